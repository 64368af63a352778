/**
 * AES-256 on one 16-byte block (FIPS-197), in plain TypeScript: the pseudorandom permutation
 * the key schedule seals each message block with (`key_schedule.ts`). It replaces `node:crypto`'s
 * `aes-256-ecb`, whose import alone cost the client about 44 ms of start-up (Deno loads its Node
 * compatibility layer lazily); tests check it against FIPS-197 and against `node:crypto`.
 *
 * It is the byte-oriented textbook cipher (S-box lookups, no T-tables). Table lookups indexed by
 * secret bytes are the classic cache-timing concern; here the server decrypts only blocks whose
 * tag it has already verified (encrypt-then-MAC, `open.ts`), so no forged input reaches it, and a
 * client encrypts only its own block.
 *
 * @module
 */

/** Bytes of one block. */
export const AES_BLOCK_BYTES = 16;
/** Bytes of an AES-256 key. */
export const AES_256_KEY_BYTES = 32;
const ROUNDS = 14;

const SBOX = new Uint8Array(256);
const INV_SBOX = new Uint8Array(256);
{
  // The S-box from the multiplicative inverse in GF(2^8) and the affine map (FIPS-197 5.1.1).
  const rotl8 = (x: number, shift: number) => ((x << shift) | (x >>> (8 - shift))) & 0xff;
  let p = 1;
  let q = 1;
  do {
    p = (p ^ (p << 1) ^ (p & 0x80 ? 0x1b : 0)) & 0xff; // p * 3
    q ^= q << 1; // q / 3
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    const x = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4);
    SBOX[p] = (x ^ 0x63) & 0xff;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let i = 0; i < 256; i++) INV_SBOX[SBOX[i]!] = i;
}

function xtime(b: number): number {
  return ((b << 1) ^ ((b >>> 7) * 0x1b)) & 0xff;
}

/** Multiplication in GF(2^8) without data-dependent branches. */
function mul(a: number, b: number): number {
  let product = 0;
  for (let i = 0; i < 8; i++) {
    product ^= a & -((b >>> i) & 1);
    a = xtime(a);
  }
  return product & 0xff;
}

/**
 * One AES-256 key, expanded once.
 *
 * @example
 * ```ts
 * import { Aes256 } from "./aes256.ts";
 * const aes = new Aes256(new Uint8Array(32).map((_, i) => i));
 * const plain = new Uint8Array(16).map((_, i) => i * 0x11);
 * const sealed = aes.encryptBlock(plain);
 * const hex = Array.from(sealed, (b) => b.toString(16).padStart(2, "0")).join("");
 * if (hex !== "8ea2b7ca516745bfeafc49904b496089") throw new Error("FIPS-197 C.3");
 * if (!aes.decryptBlock(sealed).every((b, i) => b === plain[i])) throw new Error("round trip");
 * ```
 */
export class Aes256 {
  readonly #roundKeys = new Uint8Array(AES_BLOCK_BYTES * (ROUNDS + 1));

  /** @throws {RangeError} When `key` is not 32 bytes. */
  constructor(key: Uint8Array) {
    if (key.length !== AES_256_KEY_BYTES) {
      throw new RangeError(`Cannot use AES-256 key: ${key.length} bytes, not 32`);
    }
    const w = this.#roundKeys;
    w.set(key);
    let rcon = 1;
    for (let i = AES_256_KEY_BYTES; i < w.length; i += 4) {
      let t0 = w[i - 4]!, t1 = w[i - 3]!, t2 = w[i - 2]!, t3 = w[i - 1]!;
      if (i % AES_256_KEY_BYTES === 0) {
        const first = t0;
        t0 = SBOX[t1]! ^ rcon;
        t1 = SBOX[t2]!;
        t2 = SBOX[t3]!;
        t3 = SBOX[first]!;
        rcon = xtime(rcon);
      } else if (i % AES_256_KEY_BYTES === 16) {
        t0 = SBOX[t0]!;
        t1 = SBOX[t1]!;
        t2 = SBOX[t2]!;
        t3 = SBOX[t3]!;
      }
      w[i] = w[i - 32]! ^ t0;
      w[i + 1] = w[i - 31]! ^ t1;
      w[i + 2] = w[i - 30]! ^ t2;
      w[i + 3] = w[i - 29]! ^ t3;
    }
  }

  /** Encrypts one 16-byte block into a new array. */
  encryptBlock(plain: Uint8Array): Uint8Array {
    checkBlock(plain);
    const s = new Uint8Array(plain);
    const t = new Uint8Array(AES_BLOCK_BYTES);
    this.#addRoundKey(s, 0);
    for (let round = 1; round <= ROUNDS; round++) {
      // SubBytes and ShiftRows together: row r of column c comes from column c + r.
      for (let c = 0; c < 4; c++) {
        for (let r = 0; r < 4; r++) t[r + 4 * c] = SBOX[s[r + 4 * ((c + r) & 3)]!]!;
      }
      if (round < ROUNDS) {
        for (let c = 0; c < 16; c += 4) {
          const a0 = t[c]!, a1 = t[c + 1]!, a2 = t[c + 2]!, a3 = t[c + 3]!;
          const all = a0 ^ a1 ^ a2 ^ a3;
          s[c] = a0 ^ all ^ xtime(a0 ^ a1);
          s[c + 1] = a1 ^ all ^ xtime(a1 ^ a2);
          s[c + 2] = a2 ^ all ^ xtime(a2 ^ a3);
          s[c + 3] = a3 ^ all ^ xtime(a3 ^ a0);
        }
      } else {
        s.set(t);
      }
      this.#addRoundKey(s, round);
    }
    t.fill(0);
    return s;
  }

  /** Decrypts one 16-byte block into a new array. */
  decryptBlock(sealed: Uint8Array): Uint8Array {
    checkBlock(sealed);
    const s = new Uint8Array(sealed);
    const t = new Uint8Array(AES_BLOCK_BYTES);
    this.#addRoundKey(s, ROUNDS);
    for (let round = ROUNDS - 1; round >= 0; round--) {
      // InvShiftRows and InvSubBytes: row r of column c + r comes from column c.
      for (let c = 0; c < 4; c++) {
        for (let r = 0; r < 4; r++) t[r + 4 * ((c + r) & 3)] = INV_SBOX[s[r + 4 * c]!]!;
      }
      s.set(t);
      this.#addRoundKey(s, round);
      if (round === 0) break;
      for (let c = 0; c < 16; c += 4) {
        const a0 = s[c]!, a1 = s[c + 1]!, a2 = s[c + 2]!, a3 = s[c + 3]!;
        s[c] = mul(a0, 14) ^ mul(a1, 11) ^ mul(a2, 13) ^ mul(a3, 9);
        s[c + 1] = mul(a0, 9) ^ mul(a1, 14) ^ mul(a2, 11) ^ mul(a3, 13);
        s[c + 2] = mul(a0, 13) ^ mul(a1, 9) ^ mul(a2, 14) ^ mul(a3, 11);
        s[c + 3] = mul(a0, 11) ^ mul(a1, 13) ^ mul(a2, 9) ^ mul(a3, 14);
      }
    }
    t.fill(0);
    return s;
  }

  /** Overwrites the expanded key (best effort: JavaScript may keep copies). */
  destroy(): void {
    this.#roundKeys.fill(0);
  }

  #addRoundKey(s: Uint8Array, round: number): void {
    const o = round * AES_BLOCK_BYTES;
    for (let i = 0; i < AES_BLOCK_BYTES; i++) s[i]! ^= this.#roundKeys[o + i]!;
  }
}

function checkBlock(block: Uint8Array): void {
  if (block.length !== AES_BLOCK_BYTES) {
    throw new RangeError(`Cannot use AES block: ${block.length} bytes, not 16`);
  }
}
