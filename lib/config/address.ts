/**
 * IP address literals for the config schemas and the firewall: the strict parser and RFC 5952
 * formatter live in the packet codec (one implementation for the whole project); this module adds
 * the family helpers the configs need. The firewall only ever writes addresses it formatted itself,
 * never text taken from a packet or a file.
 *
 * @module
 */

import {
  familyOf,
  formatAddress,
  type IpFamily,
  isIpv4Mapped,
  parseAddress,
} from "../packet/address.ts";

export { formatAddress, isIpv4Mapped, parseAddress };

/**
 * The family of an address literal, or `undefined` when it is not one.
 *
 * @example
 * ```ts
 * import { addressFamily } from "./address.ts";
 * if (addressFamily("fd77::2") !== 6 || addressFamily("web1") !== undefined) throw new Error();
 * ```
 */
export function addressFamily(text: string): IpFamily | undefined {
  const bytes = parseAddress(text);
  if (bytes === undefined) return undefined;
  return familyOf(bytes);
}
