/**
 * A user's 32-byte secret, kept out of every printed form: `String()`, template literals,
 * `JSON.stringify`, `Deno.inspect` and `console.log` all show `[secret]`.
 *
 * @module
 */

import { SECRET_LENGTH } from "../protocol/constants.ts";

const HIDDEN = "[secret]";

/**
 * Secret bytes that never print. The bytes live in a private field; {@linkcode Secret.bytes}
 * hands out a copy for key derivation.
 *
 * @example
 * ```ts
 * import { Secret } from "./secret.ts";
 * const secret = new Secret(new Uint8Array(32).fill(7));
 * if (JSON.stringify({ secret }) !== '{"secret":"[secret]"}') throw new Error();
 * if (`${secret}` !== "[secret]" || Deno.inspect(secret) !== "[secret]") throw new Error();
 * if (secret.bytes()[0] !== 7) throw new Error();
 * ```
 */
export class Secret {
  readonly #bytes: Uint8Array;

  /**
   * Holds a copy of `bytes`.
   *
   * @param bytes Exactly 32 bytes; they are copied.
   * @throws {RangeError} When `bytes` is not 32 bytes long.
   */
  constructor(bytes: Uint8Array) {
    if (bytes.length !== SECRET_LENGTH) {
      throw new RangeError(
        `Cannot make secret: expected ${SECRET_LENGTH} bytes, got ${bytes.length}`,
      );
    }
    this.#bytes = bytes.slice();
  }

  /** A copy of the 32 secret bytes (the caller may zero it after use). */
  bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** Constant-time comparison with another secret. */
  equals(other: Secret): boolean {
    // Both are SECRET_LENGTH bytes; every byte is read and the differences folded with OR.
    let diff = 0;
    for (let i = 0; i < SECRET_LENGTH; i++) diff |= this.#bytes[i]! ^ other.#bytes[i]!;
    return diff === 0;
  }

  /** Overwrites the bytes with zeros; the secret is useless afterwards. */
  wipe(): void {
    this.#bytes.fill(0);
  }

  /** Always `[secret]`. */
  toString(): string {
    return HIDDEN;
  }

  /** Always `[secret]`. */
  toJSON(): string {
    return HIDDEN;
  }

  /** Always `[secret]`. */
  [Symbol.for("Deno.customInspect")](): string {
    return HIDDEN;
  }

  /** Always `[secret]` (for `node:util` inspect). */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return HIDDEN;
  }

  /** Always `[secret]`. */
  [Symbol.toPrimitive](): string {
    return HIDDEN;
  }
}
