/**
 * A user's 32-byte secret, kept out of every printed form: `String()`, template literals,
 * `JSON.stringify`, `Deno.inspect` and `console.log` all show `[secret]`.
 *
 * @module
 */

import { SECRET_LENGTH } from "../protocol/constants.ts";

const HIDDEN = "[secret]";

/** Secrets per slab (one 64 KiB buffer). */
export const SLAB_CELLS = 2048;

const slabs: Uint8Array[] = [];
/** Cells whose secret was collected (zeroed), to use again. */
const freeCells: number[] = [];
let nextCell = 0;
const collected = new FinalizationRegistry<number>((cell) => {
  slabOf(cell).fill(0, offsetOf(cell), offsetOf(cell) + SECRET_LENGTH);
  freeCells.push(cell);
});

function slabOf(cell: number): Uint8Array {
  return slabs[Math.floor(cell / SLAB_CELLS)]!;
}

function offsetOf(cell: number): number {
  return (cell % SLAB_CELLS) * SECRET_LENGTH;
}

function takeCell(): number {
  const cell = freeCells.pop() ?? nextCell++;
  if (cell >= slabs.length * SLAB_CELLS) slabs.push(new Uint8Array(SLAB_CELLS * SECRET_LENGTH));
  return cell;
}

/**
 * Secret bytes that never print. The bytes live in a slab cell only this object names;
 * {@linkcode Secret.bytes}
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
  /** Its cell in the slabs. */
  readonly #cell: number;

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
    this.#cell = takeCell();
    slabOf(this.#cell).set(bytes, offsetOf(this.#cell));
    collected.register(this, this.#cell);
  }

  /** A copy of the 32 secret bytes (the caller may zero it after use). */
  bytes(): Uint8Array {
    const at = offsetOf(this.#cell);
    return slabOf(this.#cell).slice(at, at + SECRET_LENGTH);
  }

  /** Constant-time comparison with another secret. */
  equals(other: Secret): boolean {
    // Both are SECRET_LENGTH bytes; every byte is read and the differences folded with OR.
    let diff = 0;
    const mine = slabOf(this.#cell);
    const theirs = slabOf(other.#cell);
    const a = offsetOf(this.#cell);
    const b = offsetOf(other.#cell);
    for (let i = 0; i < SECRET_LENGTH; i++) diff |= mine[a + i]! ^ theirs[b + i]!;
    return diff === 0;
  }

  /** Overwrites the bytes with zeros; the secret is useless afterwards. */
  wipe(): void {
    const at = offsetOf(this.#cell);
    slabOf(this.#cell).fill(0, at, at + SECRET_LENGTH);
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

/**
 * How the slabs are used (for tests and diagnostics; no secret byte leaves): cells handed out so
 * far, cells free to use again, and whether every free cell is zeroed.
 *
 * @example
 * ```ts
 * import { Secret, slabUsage } from "./secret.ts";
 * new Secret(new Uint8Array(32).fill(1));
 * if (slabUsage().cells < 1 || !slabUsage().freeZeroed) throw new Error();
 * ```
 */
export function slabUsage(): { cells: number; free: number; freeZeroed: boolean } {
  const freeZeroed = freeCells.every((cell) =>
    slabOf(cell).subarray(offsetOf(cell), offsetOf(cell) + SECRET_LENGTH).every((b) => b === 0)
  );
  return { cells: nextCell, free: freeCells.length, freeZeroed };
}
