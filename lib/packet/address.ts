/**
 * IPv4 and IPv6 addresses as bytes: strict parsing of the text forms and canonical formatting
 * (RFC 5952 for IPv6: lowercase, no leading zeros, the longest run of zero groups compressed).
 *
 * @module
 */

import { IPV4_ADDRESS_LENGTH, IPV6_ADDRESS_LENGTH } from "./constants.ts";

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const IPV6_GROUPS = IPV6_ADDRESS_LENGTH / 2;

/** An IP version, of an address or a decoded packet. */
export type IpFamily = 4 | 6;

/**
 * The family of 4 (IPv4) or 16 (IPv6) address bytes.
 *
 * @example
 * ```ts
 * import { familyOf } from "./address.ts";
 * if (familyOf(new Uint8Array(4)) !== 4 || familyOf(new Uint8Array(16)) !== 6) throw new Error();
 * ```
 */
export function familyOf(bytes: Uint8Array): IpFamily {
  return bytes.length === IPV4_ADDRESS_LENGTH ? 4 : 6;
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
  if (bytes.length !== IPV6_ADDRESS_LENGTH) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}
/**
 * Parses a dotted-quad IPv4 address (`10.77.0.1`) or an IPv6 address in any RFC 4291 text form
 * (`fd77::1`, `::ffff:10.77.0.1`) into 4 or 16 bytes. Refuses leading zeros in IPv4 octets (their
 * octal reading is ambiguous), prefix lengths, zone ids and brackets.
 *
 * @param text The address.
 * @returns 4 or 16 bytes, or `undefined` when `text` is not an address.
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * if (parseAddress("10.77.0.1")?.join(".") !== "10.77.0.1") throw new Error("unexpected");
 * if (parseAddress("fd77::1")?.length !== 16) throw new Error("unexpected");
 * if (parseAddress("10.77.0.256") !== undefined) throw new Error("unexpected");
 * ```
 */
export function parseAddress(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

/**
 * Formats a 4-byte IPv4 or 16-byte IPv6 address in its canonical text form. IPv4-mapped IPv6
 * addresses are written with a dotted quad (`::ffff:10.77.0.1`), as RFC 5952 recommends.
 *
 * @param bytes 4 or 16 bytes.
 * @returns The text form.
 * @throws {TypeError} When `bytes` is neither 4 nor 16 bytes long.
 * @example
 * ```ts
 * import { formatAddress } from "./address.ts";
 * const v6 = new Uint8Array(16);
 * v6[0] = 0xfd; v6[1] = 0x77; v6[15] = 1;
 * if (formatAddress(v6) !== "fd77::1") throw new Error("unexpected");
 * if (formatAddress(new Uint8Array([10, 77, 0, 1])) !== "10.77.0.1") throw new Error("unexpected");
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === IPV4_ADDRESS_LENGTH) return formatIpv4(bytes, 0);
  if (bytes.length !== IPV6_ADDRESS_LENGTH) {
    throw new TypeError(`Cannot format address: expected 4 or 16 bytes, got ${bytes.length}`);
  }
  if (isIpv4Mapped(bytes)) return `::ffff:${formatIpv4(bytes, 12)}`;
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // The longest run of two or more zero groups (the first of equal runs) becomes "::".
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < IPV6_GROUPS;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

function formatIpv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== IPV4_ADDRESS_LENGTH) return undefined;
  const out = new Uint8Array(IPV4_ADDRESS_LENGTH);
  for (const [i, part] of parts.entries()) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0]!.split(":");
  const tail = halves.length === 1 || halves[1] === "" ? [] : halves[1]!.split(":");
  const parsedHead = parseGroups(head, halves.length === 1);
  const parsedTail = parseGroups(tail, true);
  if (parsedHead === undefined || parsedTail === undefined) return undefined;
  const count = parsedHead.length + parsedTail.length;
  // Without "::" there must be eight groups; "::" stands for at least one zero group.
  if (halves.length === 1 ? count !== IPV6_GROUPS : count > IPV6_GROUPS - 1) return undefined;
  const words = [...parsedHead, ...new Array<number>(IPV6_GROUPS - count).fill(0), ...parsedTail];
  const out = new Uint8Array(IPV6_ADDRESS_LENGTH);
  for (const [i, word] of words.entries()) {
    out[2 * i] = word >> 8;
    out[2 * i + 1] = word & 0xff;
  }
  return out;
}

/** Parses hex groups; the last may be a dotted quad (two groups) when `last` allows it. */
function parseGroups(groups: string[], last: boolean): number[] | undefined {
  const words: number[] = [];
  for (const [i, group] of groups.entries()) {
    if (last && i === groups.length - 1 && group.includes(".")) {
      const v4 = parseIpv4(group);
      if (v4 === undefined) return undefined;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
    } else if (HEX_GROUP.test(group)) {
      words.push(parseInt(group, 16));
    } else {
      return undefined;
    }
  }
  return words;
}

/**
 * Whether two addresses (4 or 16 bytes each) are the same address.
 *
 * @example
 * ```ts
 * import { sameAddress } from "./address.ts";
 * if (!sameAddress(new Uint8Array([10, 77, 0, 1]), new Uint8Array([10, 77, 0, 1]))) throw new Error();
 * if (sameAddress(new Uint8Array([10, 77, 0, 1]), new Uint8Array(16))) throw new Error();
 * ```
 */
export function sameAddress(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
