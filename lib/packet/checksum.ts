/**
 * The internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit
 * big-endian words. The running sum is a plain number, so a checksum over several pieces (a
 * pseudo-header, a header, a payload) allocates nothing.
 *
 * @module
 */

/**
 * Adds `length` bytes of `bytes` from `offset` to a running checksum sum and returns the new sum
 * (folded to 16 bits). Start from 0. Every piece but the last must have an even length, because
 * an odd piece is padded with a zero byte, as RFC 1071 pads the end of the data.
 *
 * @param sum The running sum (0 to start).
 * @param bytes The data.
 * @param offset Where the piece starts in `bytes`.
 * @param length How many bytes to add.
 * @returns The new running sum, from 0 to 0xffff.
 * @throws {RangeError} When the piece does not lie inside `bytes`.
 * @example
 * ```ts
 * import { checksumAdd, checksumFinish, internetChecksum } from "./checksum.ts";
 * const data = new Uint8Array([0x45, 0x00, 0x00, 0x1c, 0x12, 0x34]);
 * let sum = checksumAdd(0, data, 0, 4);
 * sum = checksumAdd(sum, data, 4, 2);
 * if (checksumFinish(sum) !== internetChecksum(data)) throw new Error("unexpected");
 * ```
 */
export function checksumAdd(
  sum: number,
  bytes: Uint8Array,
  offset = 0,
  length: number = bytes.length - offset,
): number {
  if (
    !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 ||
    offset + length > bytes.length
  ) {
    throw new RangeError(
      `Cannot add to checksum: ${length} bytes at ${offset} do not fit ${bytes.length} bytes`,
    );
  }
  const evenEnd = offset + (length & ~1);
  let i = offset;
  for (; i < evenEnd; i += 2) sum += (bytes[i]! << 8) | bytes[i + 1]!;
  if (i < offset + length) sum += bytes[i]! << 8;
  return fold(sum);
}

/**
 * Adds one 16-bit word (e.g. a protocol number or a length of a pseudo-header) to a running sum.
 *
 * @param sum The running sum.
 * @param word A value from 0 to 0xffff.
 * @returns The new running sum, from 0 to 0xffff.
 * @example
 * ```ts
 * import { checksumAddWord, checksumFinish } from "./checksum.ts";
 * if (checksumFinish(checksumAddWord(0, 0x1234)) !== 0xedcb) throw new Error("unexpected");
 * ```
 */
export function checksumAddWord(sum: number, word: number): number {
  return fold(sum + (word & 0xffff));
}

/**
 * Turns a running sum into the checksum to write: its ones' complement, 16 bits. Over data that
 * includes a correct checksum field the result is 0.
 *
 * @param sum The running sum.
 * @returns The checksum, from 0 to 0xffff.
 * @example
 * ```ts
 * import { checksumFinish } from "./checksum.ts";
 * if (checksumFinish(0xffff) !== 0) throw new Error("unexpected");
 * ```
 */
export function checksumFinish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/**
 * The internet checksum of one piece of data.
 *
 * @param bytes The data.
 * @param offset Where the data starts.
 * @param length How many bytes.
 * @returns The checksum, from 0 to 0xffff.
 * @throws {RangeError} When the piece does not lie inside `bytes`.
 * @example
 * ```ts
 * import { internetChecksum } from "./checksum.ts";
 * // RFC 1071, section 3: the sum of these words is 0xddf2.
 * const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
 * if (internetChecksum(data) !== (~0xddf2 & 0xffff)) throw new Error("unexpected");
 * ```
 */
export function internetChecksum(
  bytes: Uint8Array,
  offset = 0,
  length: number = bytes.length - offset,
): number {
  return checksumFinish(checksumAdd(0, bytes, offset, length));
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}
