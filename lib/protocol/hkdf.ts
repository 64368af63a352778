/**
 * HKDF-SHA256 (RFC 5869) over the pure HMAC of `hmac_sha256.ts`: the key schedule's derivation,
 * without `node:crypto`'s `hkdfSync` (see `hmac_sha256.ts` for why).
 *
 * @module
 */

import { HmacSha256 } from "./hmac_sha256.ts";

/** The most bytes HKDF-SHA256 can give (255 blocks of 32). */
export const HKDF_MAX_LENGTH = 255 * 32;

/**
 * `HKDF-SHA256(ikm, salt, info)` truncated to `length` bytes.
 *
 * @throws {RangeError} When `length` is not from 0 to {@linkcode HKDF_MAX_LENGTH}.
 *
 * @example
 * ```ts
 * import { hkdfSha256 } from "./hkdf.ts";
 * // RFC 5869, test case 3 (empty salt and info).
 * const okm = hkdfSha256(new Uint8Array(22).fill(0x0b), new Uint8Array(0), new Uint8Array(0), 42);
 * const hex = Array.from(okm, (b) => b.toString(16).padStart(2, "0")).join("");
 * if (!hex.startsWith("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d")) throw new Error();
 * ```
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > HKDF_MAX_LENGTH) {
    throw new RangeError(`Cannot derive ${length} bytes with HKDF-SHA256`);
  }
  const extract = new HmacSha256(salt.length === 0 ? new Uint8Array(32) : salt);
  const prk = extract.digest(ikm);
  extract.destroy();
  const expand = new HmacSha256(prk);
  prk.fill(0);
  const okm = new Uint8Array(length);
  let previous = new Uint8Array(0);
  for (let i = 0, filled = 0; filled < length; i++) {
    const input = new Uint8Array(previous.length + info.length + 1);
    input.set(previous);
    input.set(info, previous.length);
    input[input.length - 1] = i + 1;
    previous.fill(0);
    previous = new Uint8Array(expand.digest(input));
    okm.set(previous.subarray(0, Math.min(32, length - filled)), filled);
    filled += 32;
  }
  previous.fill(0);
  expand.destroy();
  return okm;
}
