/**
 * scrypt (RFC 7914) with PBKDF2-HMAC-SHA256, in plain TypeScript over `hmac_sha256.ts`: what
 * stretches a passphrase into a secret (`passphrase.ts`), without `node:crypto`, whose import
 * alone costs a Deno program about 15-44 ms of start-up. Tests check it against RFC 7914 and
 * `node:crypto`'s `scryptSync`.
 *
 * @module
 */

import { HmacSha256 } from "./hmac_sha256.ts";

/**
 * PBKDF2-HMAC-SHA256 with one iteration (all scrypt needs), `length` bytes.
 *
 * @example
 * ```ts
 * import { pbkdf2Sha256Once } from "./scrypt.ts";
 * const enc = new TextEncoder();
 * const dk = pbkdf2Sha256Once(enc.encode("passwd"), enc.encode("salt"), 64);
 * // RFC 7914 section 11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, dkLen=64)
 * if (dk[0] !== 0x55 || dk[63] !== 0x83) throw new Error();
 * ```
 */
export function pbkdf2Sha256Once(
  password: Uint8Array,
  salt: Uint8Array,
  length: number,
): Uint8Array {
  const mac = new HmacSha256(password);
  const out = new Uint8Array(length);
  const input = new Uint8Array(salt.length + 4);
  input.set(salt);
  for (let block = 1, filled = 0; filled < length; block++, filled += 32) {
    new DataView(input.buffer).setUint32(salt.length, block);
    const t = mac.digest(input);
    out.set(t.subarray(0, Math.min(32, length - filled)), filled);
    t.fill(0);
  }
  mac.destroy();
  return out;
}

const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

/** Salsa20/8 of the 16 words of `b` at `o`, in place; `x` is scratch. */
function salsa208(b: Uint32Array, o: number, x: Uint32Array): void {
  for (let i = 0; i < 16; i++) x[i] = b[o + i]!;
  for (let i = 0; i < 8; i += 2) {
    x[4]! ^= rotl(x[0]! + x[12]!, 7);
    x[8]! ^= rotl(x[4]! + x[0]!, 9);
    x[12]! ^= rotl(x[8]! + x[4]!, 13);
    x[0]! ^= rotl(x[12]! + x[8]!, 18);
    x[9]! ^= rotl(x[5]! + x[1]!, 7);
    x[13]! ^= rotl(x[9]! + x[5]!, 9);
    x[1]! ^= rotl(x[13]! + x[9]!, 13);
    x[5]! ^= rotl(x[1]! + x[13]!, 18);
    x[14]! ^= rotl(x[10]! + x[6]!, 7);
    x[2]! ^= rotl(x[14]! + x[10]!, 9);
    x[6]! ^= rotl(x[2]! + x[14]!, 13);
    x[10]! ^= rotl(x[6]! + x[2]!, 18);
    x[3]! ^= rotl(x[15]! + x[11]!, 7);
    x[7]! ^= rotl(x[3]! + x[15]!, 9);
    x[11]! ^= rotl(x[7]! + x[3]!, 13);
    x[15]! ^= rotl(x[11]! + x[7]!, 18);
    x[1]! ^= rotl(x[0]! + x[3]!, 7);
    x[2]! ^= rotl(x[1]! + x[0]!, 9);
    x[3]! ^= rotl(x[2]! + x[1]!, 13);
    x[0]! ^= rotl(x[3]! + x[2]!, 18);
    x[6]! ^= rotl(x[5]! + x[4]!, 7);
    x[7]! ^= rotl(x[6]! + x[5]!, 9);
    x[4]! ^= rotl(x[7]! + x[6]!, 13);
    x[5]! ^= rotl(x[4]! + x[7]!, 18);
    x[11]! ^= rotl(x[10]! + x[9]!, 7);
    x[8]! ^= rotl(x[11]! + x[10]!, 9);
    x[9]! ^= rotl(x[8]! + x[11]!, 13);
    x[10]! ^= rotl(x[9]! + x[8]!, 18);
    x[12]! ^= rotl(x[15]! + x[14]!, 7);
    x[13]! ^= rotl(x[12]! + x[15]!, 9);
    x[14]! ^= rotl(x[13]! + x[12]!, 13);
    x[15]! ^= rotl(x[14]! + x[13]!, 18);
  }
  for (let i = 0; i < 16; i++) b[o + i] = (b[o + i]! + x[i]!) | 0;
}

/** scryptBlockMix of the `2r` blocks of `b` into `y`. */
function blockMix(b: Uint32Array, y: Uint32Array, r: number, x: Uint32Array, t: Uint32Array): void {
  t.set(b.subarray((2 * r - 1) * 16, 2 * r * 16));
  for (let i = 0; i < 2 * r; i++) {
    for (let k = 0; k < 16; k++) t[k]! ^= b[i * 16 + k]!;
    salsa208(t, 0, x);
    // Even blocks first, then odd ones.
    y.set(t, ((i >> 1) + (i & 1) * r) * 16);
  }
}

/**
 * `scrypt(password, salt, N, r, p)` truncated to `length` bytes. `N` a power of two above 1.
 *
 * @throws {RangeError} On parameters outside RFC 7914's.
 * @example
 * ```ts
 * import { scrypt } from "./scrypt.ts";
 * // RFC 7914 section 12, first vector: P="", S="", N=16, r=1, p=1
 * const dk = scrypt(new Uint8Array(0), new Uint8Array(0), { N: 16, r: 1, p: 1 }, 64);
 * if (dk[0] !== 0x77 || dk[1] !== 0xd6 || dk[63] !== 0x06) throw new Error();
 * ```
 */
export function scrypt(
  password: Uint8Array,
  salt: Uint8Array,
  params: { readonly N: number; readonly r: number; readonly p: number },
  length: number,
): Uint8Array {
  const { N, r, p } = params;
  if (N < 2 || (N & (N - 1)) !== 0 || r < 1 || p < 1 || r * p >= 2 ** 30) {
    throw new RangeError(`Cannot run scrypt with N=${N}, r=${r}, p=${p}`);
  }
  const words = 32 * r;
  const bytes = pbkdf2Sha256Once(password, salt, p * 128 * r);
  const view = new DataView(bytes.buffer);
  const v = new Uint32Array(words * N);
  const xBlock = new Uint32Array(words);
  const yBlock = new Uint32Array(words);
  const scratch = new Uint32Array(16);
  const t = new Uint32Array(16);
  for (let chunk = 0; chunk < p; chunk++) {
    const base = chunk * 128 * r;
    for (let i = 0; i < words; i++) xBlock[i] = view.getUint32(base + 4 * i, true);
    for (let i = 0; i < N; i++) {
      v.set(xBlock, i * words);
      blockMix(xBlock, yBlock, r, scratch, t);
      xBlock.set(yBlock);
    }
    for (let i = 0; i < N; i++) {
      const j = xBlock[(2 * r - 1) * 16]! & (N - 1);
      for (let k = 0; k < words; k++) xBlock[k]! ^= v[j * words + k]!;
      blockMix(xBlock, yBlock, r, scratch, t);
      xBlock.set(yBlock);
    }
    for (let i = 0; i < words; i++) view.setUint32(base + 4 * i, xBlock[i]!, true);
  }
  v.fill(0);
  xBlock.fill(0);
  yBlock.fill(0);
  const result = pbkdf2Sha256Once(password, bytes, length);
  bytes.fill(0);
  return result;
}
