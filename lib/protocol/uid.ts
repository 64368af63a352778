/**
 * The 5-byte big-endian user id at the start of every trailer.
 *
 * @module
 */

import { MAX_UID, UID_LENGTH } from "./constants.ts";

/**
 * Whether `uid` is a valid user id: an integer from 0 to 2^40 - 1.
 *
 * @example
 * ```ts
 * import { isValidUid } from "./uid.ts";
 * if (!isValidUid(1000) || isValidUid(-1)) throw new Error("unexpected");
 * ```
 */
export function isValidUid(uid: number): boolean {
  return Number.isSafeInteger(uid) && uid >= 0 && uid <= MAX_UID;
}

/**
 * Encodes a user id as 5 big-endian bytes.
 *
 * @throws {RangeError} When the uid does not fit 5 bytes.
 * @example
 * ```ts
 * import { encodeUid } from "./uid.ts";
 * const bytes = encodeUid(1000);
 * if (bytes.join(",") !== "0,0,0,3,232") throw new Error("unexpected");
 * ```
 */
export function encodeUid(uid: number): Uint8Array {
  if (!isValidUid(uid)) throw new RangeError(`Cannot encode uid: ${uid} is not in 0..2^40-1`);
  const out = new Uint8Array(UID_LENGTH);
  writeUid(out, 0, uid);
  return out;
}

/**
 * Writes a (valid) user id as 5 big-endian bytes at `offset`.
 *
 * @example
 * ```ts
 * import { writeUid } from "./uid.ts";
 * const out = new Uint8Array(5);
 * writeUid(out, 0, 258);
 * if (out[3] !== 1 || out[4] !== 2) throw new Error("unexpected");
 * ```
 */
export function writeUid(out: Uint8Array, offset: number, uid: number): void {
  const high = Math.floor(uid / 2 ** 32);
  const low = uid >>> 0;
  out[offset] = high & 0xff;
  out[offset + 1] = low >>> 24;
  out[offset + 2] = (low >>> 16) & 0xff;
  out[offset + 3] = (low >>> 8) & 0xff;
  out[offset + 4] = low & 0xff;
}

/**
 * Reads the 5-byte big-endian user id at `offset` (no allocation).
 *
 * @example
 * ```ts
 * import { readUid } from "./uid.ts";
 * if (readUid(new Uint8Array([0, 0, 0, 3, 232]), 0) !== 1000) throw new Error("unexpected");
 * ```
 */
export function readUid(bytes: Uint8Array, offset: number): number {
  const low = ((bytes[offset + 1]! << 24) | (bytes[offset + 2]! << 16) |
    (bytes[offset + 3]! << 8) | bytes[offset + 4]!) >>> 0;
  return bytes[offset]! * 2 ** 32 + low;
}
