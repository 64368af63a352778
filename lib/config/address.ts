/**
 * IP address literals: strict parsing to bytes (4 for IPv4, 16 for IPv6) and the canonical text
 * form (RFC 5952 for IPv6). Used by the config schemas and by the firewall, which only ever writes
 * addresses it formatted itself, never text taken from a packet or a file.
 *
 * @module
 */

/** An address family: 4 or 6. */
export type AddressFamily = 4 | 6;

/**
 * Parses an IPv4 (`10.0.0.1`) or IPv6 (`fd77::1`, `::ffff:10.0.0.1`) literal to 4 or 16 bytes.
 * Strict: no leading zeros in IPv4 octets (they read as octal elsewhere), no zone ids, no brackets,
 * no surrounding spaces.
 *
 * @param text The literal.
 * @returns 4 or 16 bytes, or `undefined` when `text` is not an address literal.
 *
 * @example
 * ```ts
 * import { parseAddress } from "./address.ts";
 * if (parseAddress("10.77.0.1")?.length !== 4) throw new Error("expected 4 bytes");
 * if (parseAddress("fd77::1")?.length !== 16) throw new Error("expected 16 bytes");
 * if (parseAddress("010.0.0.1") !== undefined) throw new Error("leading zeros are refused");
 * ```
 */
export function parseAddress(text: string): Uint8Array | undefined {
  if (text.includes(":")) return parseIpv6(text);
  return parseIpv4(text);
}

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
 * Formats 4 or 16 address bytes as canonical text: dotted quad for IPv4; RFC 5952 for IPv6
 * (lower case, the longest run of two or more zero groups shortened to `::`, IPv4-mapped addresses
 * as `::ffff:a.b.c.d`).
 *
 * @throws {TypeError} When `bytes` is not 4 or 16 bytes long.
 * @example
 * ```ts
 * import { formatAddress, parseAddress } from "./address.ts";
 * if (formatAddress(parseAddress("FD77:0:0:0:0:0:0:1")!) !== "fd77::1") throw new Error();
 * if (formatAddress(new Uint8Array([10, 77, 0, 1])) !== "10.77.0.1") throw new Error();
 * ```
 */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) {
    throw new TypeError(`Cannot format address: expected 4 or 16 bytes, got ${bytes.length}`);
  }
  if (isIpv4Mapped(bytes)) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
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

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, allowIpv4Tail: boolean): number[] | undefined => {
    if (part === "") return [];
    const pieces = part.split(":");
    const groups: number[] = [];
    for (const [i, piece] of pieces.entries()) {
      if (allowIpv4Tail && i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9A-Fa-f]{1,4}$/.test(piece)) return undefined;
      groups.push(parseInt(piece, 16));
    }
    return groups;
  };
  let groups: number[];
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (head === undefined || tail === undefined) return undefined;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return undefined;
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  } else {
    const all = parseGroups(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  for (const [i, group] of groups.entries()) {
    out[2 * i] = group >> 8;
    out[2 * i + 1] = group & 0xff;
  }
  return out;
}
