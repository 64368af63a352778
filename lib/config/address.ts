/**
 * IP address literals for the config schemas and the firewall: the strict parser and RFC 5952
 * formatter live in the packet codec (one implementation for the whole project); this module adds
 * the family helpers the configs need. The firewall only ever writes addresses it formatted itself,
 * never text taken from a packet or a file.
 *
 * @module
 */

import { formatAddress, parseAddress } from "../packet/address.ts";

export { formatAddress, parseAddress };

/** An address family: 4 or 6. */
export type AddressFamily = 4 | 6;

/**
 * The family of an address literal, or `undefined` when it is not one.
 *
 * @example
 * ```ts
 * import { addressFamily } from "./address.ts";
 * if (addressFamily("fd77::2") !== 6 || addressFamily("web1") !== undefined) throw new Error();
 * ```
 */
export function addressFamily(text: string): AddressFamily | undefined {
  const bytes = parseAddress(text);
  if (bytes === undefined) return undefined;
  return bytes.length === 4 ? 4 : 6;
}

/**
 * Whether 16 address bytes are an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
 *
 * @example
 * ```ts
 * import { isIpv4Mapped, parseAddress } from "./address.ts";
 * if (!isIpv4Mapped(parseAddress("::ffff:10.0.0.1")!)) throw new Error();
 * ```
 */
export function isIpv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
