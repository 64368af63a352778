/**
 * Lower-case hex text of bytes, and back: tags in replay caches, fingerprints, state files.
 *
 * @module
 */

/**
 * `bytes` as lower-case hex, two digits a byte.
 *
 * @example
 * ```ts
 * import { encodeHex } from "./hex.ts";
 * if (encodeHex(new Uint8Array([0, 15, 255])) !== "000fff") throw new Error();
 * ```
 */
export function encodeHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

/**
 * The bytes of hex text, two digits a byte (a trailing odd digit is ignored). Callers check the
 * text's form first: a pair that is not hex reads as 0.
 *
 * @example
 * ```ts
 * import { decodeHex } from "./hex.ts";
 * if (decodeHex("000fff").join(",") !== "0,15,255") throw new Error();
 * ```
 */
export function decodeHex(text: string): Uint8Array {
  return new Uint8Array((text.match(/../g) ?? []).map((pair) => parseInt(pair, 16)));
}
