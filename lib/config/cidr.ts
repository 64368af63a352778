/**
 * CIDR prefixes (`10.0.0.0/8`, `fd77::/64`) and source lists with an allocation-free
 * `contains(addressBytes)` for the per-knock policy check.
 *
 * @module
 */

import { familyOf, type IpFamily } from "../packet/address.ts";
import { formatAddress, parseAddress } from "./address.ts";
import type { Checked } from "./_checked.ts";

/**
 * One IPv4 or IPv6 prefix.
 *
 * @example
 * ```ts
 * import { parseCidr } from "./cidr.ts";
 * const net = parseCidr("10.77.0.0/24");
 * if (!net.contains(new Uint8Array([10, 77, 0, 9]))) throw new Error("should contain");
 * if (net.contains(new Uint8Array([10, 78, 0, 9]))) throw new Error("should not contain");
 * ```
 */
export class Cidr {
  /** 4 or 6. */
  readonly family: IpFamily;
  /** Prefix length: 0..32 or 0..128. */
  readonly prefix: number;
  readonly #network: Uint8Array;
  readonly #v4Network: number;
  readonly #v4Mask: number;

  /**
   * The prefix `network`/`prefix`.
   *
   * @param network The network address, 4 or 16 bytes, with no bits set past the prefix.
   * @param prefix The prefix length.
   * @throws {RangeError} When the prefix is out of range or host bits are set.
   */
  constructor(network: Uint8Array, prefix: number) {
    const bits = network.length * 8;
    if (network.length !== 4 && network.length !== 16) {
      throw new RangeError(`Cannot make CIDR: expected 4 or 16 bytes, got ${network.length}`);
    }
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
      throw new RangeError(`Cannot make CIDR: prefix ${prefix} is not in 0..${bits}`);
    }
    this.family = familyOf(network);
    this.prefix = prefix;
    this.#network = network.slice();
    if (hasHostBits(this.#network, prefix)) {
      throw new RangeError(
        `Cannot make CIDR: ${formatAddress(network)}/${prefix} has bits set past the prefix`,
      );
    }
    this.#v4Mask = prefix === 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0;
    this.#v4Network = this.family === 4 ? readU32(this.#network, 0) : 0;
  }

  /**
   * Whether the address (4 or 16 bytes, as decoded from a packet) lies inside this prefix. An
   * address of the other family is never inside. Allocates nothing.
   */
  contains(address: Uint8Array): boolean {
    if (this.family === 4) {
      if (address.length !== 4) return false;
      return ((readU32(address, 0) & this.#v4Mask) >>> 0) === this.#v4Network;
    }
    if (address.length !== 16) return false;
    const whole = this.prefix >>> 3;
    for (let i = 0; i < whole; i++) if (address[i] !== this.#network[i]) return false;
    const rest = this.prefix & 7;
    if (rest === 0) return true;
    const mask = (0xff << (8 - rest)) & 0xff;
    return (address[whole]! & mask) === this.#network[whole];
  }

  /** The prefix as text, e.g. `10.0.0.0/8`. */
  toString(): string {
    return `${formatAddress(this.#network)}/${this.prefix}`;
  }

  /** JSON form: the text. */
  toJSON(): string {
    return this.toString();
  }

  /** Inspection shows the text. */
  [Symbol.for("Deno.customInspect")](): string {
    return `Cidr(${this.toString()})`;
  }
}

/**
 * Parses a CIDR prefix; a bare address is a single host (`/32` or `/128`).
 *
 * @throws {SyntaxError} When `text` is not a prefix, or has bits set past its prefix length.
 * @example
 * ```ts
 * import { parseCidr } from "./cidr.ts";
 * if (parseCidr("::/0").toString() !== "::/0") throw new Error();
 * if (parseCidr("fd77::1").prefix !== 128) throw new Error();
 * ```
 */
export function parseCidr(text: string): Cidr {
  const checked = checkCidr(text);
  if (checked.reason !== undefined) throw new SyntaxError(`Cannot parse CIDR: ${checked.reason}`);
  return checked.value;
}

/**
 * Like {@linkcode parseCidr} but returns the reason instead of throwing, for the config schemas.
 *
 * @example
 * ```ts
 * import { checkCidr } from "./cidr.ts";
 * if (checkCidr("10.0.0.1/8").reason === undefined) throw new Error("host bits are refused");
 * ```
 */
export function checkCidr(text: string): Checked<Cidr> {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseAddress(addressText);
  if (bytes === undefined) {
    return { reason: `${JSON.stringify(text)} is not an IPv4 or IPv6 prefix (e.g. "10.0.0.0/8")` };
  }
  const bits = bytes.length * 8;
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits) {
      return { reason: `${JSON.stringify(text)} has a prefix length outside 0..${bits}` };
    }
    prefix = Number(prefixText);
  }
  if (hasHostBits(bytes, prefix)) {
    clearHostBits(bytes, prefix);
    return {
      reason: `${JSON.stringify(text)} has host bits set (did you mean "${
        formatAddress(bytes)
      }/${prefix}"?)`,
    };
  }
  return { value: new Cidr(bytes, prefix) };
}

/**
 * A list of prefixes a user may knock from.
 *
 * @example
 * ```ts
 * import { parseCidr, SourceList } from "./cidr.ts";
 * const list = new SourceList([parseCidr("10.77.0.0/24"), parseCidr("fd77::/64")]);
 * if (!list.contains(new Uint8Array([10, 77, 0, 2]))) throw new Error();
 * if (JSON.stringify(list) !== '["10.77.0.0/24","fd77::/64"]') throw new Error();
 * ```
 */
export class SourceList {
  /** The prefixes, in config order. */
  readonly cidrs: readonly Cidr[];
  readonly #v4: readonly Cidr[];
  readonly #v6: readonly Cidr[];
  readonly #allV4: boolean;
  readonly #allV6: boolean;

  /** A list of `cidrs` (checked already, e.g. by {@linkcode checkCidr}). */
  constructor(cidrs: readonly Cidr[]) {
    this.cidrs = Object.freeze([...cidrs]);
    this.#v4 = cidrs.filter((c) => c.family === 4);
    this.#v6 = cidrs.filter((c) => c.family === 6);
    this.#allV4 = this.#v4.some((c) => c.prefix === 0);
    this.#allV6 = this.#v6.some((c) => c.prefix === 0);
  }

  /** Whether the address (4 or 16 bytes) lies inside any prefix. Allocates nothing. */
  contains(address: Uint8Array): boolean {
    if (address.length === 4) {
      if (this.#allV4) return true;
      for (const cidr of this.#v4) if (cidr.contains(address)) return true;
      return false;
    }
    if (address.length !== 16) return false;
    if (this.#allV6) return true;
    for (const cidr of this.#v6) if (cidr.contains(address)) return true;
    return false;
  }

  /** The prefixes as text, comma separated. */
  toString(): string {
    return this.cidrs.map(String).join(", ");
  }

  /** JSON form: the prefixes as strings. */
  toJSON(): string[] {
    return this.cidrs.map(String);
  }

  /** Inspection shows the prefixes. */
  [Symbol.for("Deno.customInspect")](): string {
    return `SourceList(${this.toString()})`;
  }
}

function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>> 0;
}

function hasHostBits(bytes: Uint8Array, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >>> 3]! >> (7 - (bit & 7))) & 1) return true;
  }
  return false;
}

function clearHostBits(bytes: Uint8Array, prefix: number): void {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    bytes[bit >>> 3] = bytes[bit >>> 3]! & ~(1 << (7 - (bit & 7))) & 0xff;
  }
}
