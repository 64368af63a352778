/**
 * Fresh secrets and sequence numbers, from the system CSPRNG (`crypto.getRandomValues`).
 *
 * @module
 */

import { MAX_SEQUENCE, RESYNC_PERIOD_SECONDS, SECRET_LENGTH } from "./constants.ts";

/**
 * A new 256-bit secret.
 *
 * @example
 * ```ts
 * import { generateSecret } from "./random.ts";
 * if (generateSecret().length !== 32) throw new Error("unexpected");
 * ```
 */
export function generateSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SECRET_LENGTH));
}

/**
 * A random sequence number in 1..2^32-1, different from every number in `avoid`.
 *
 * @example
 * ```ts
 * import { randomSequence } from "./random.ts";
 * const next = randomSequence([5]);
 * if (next === 5 || next === 0) throw new Error("unexpected");
 * ```
 */
export function randomSequence(avoid: readonly number[] = []): number {
  const word = new Uint32Array(1);
  for (;;) {
    crypto.getRandomValues(word);
    const value = word[0]!;
    if (value !== 0 && value <= MAX_SEQUENCE && !avoid.includes(value)) return value;
  }
}

/**
 * The UTC minute number of a unix time in seconds (the resync key context).
 *
 * @example
 * ```ts
 * import { minuteOf } from "./random.ts";
 * if (minuteOf(119.9) !== 1) throw new Error("unexpected");
 * ```
 */
export function minuteOf(unixSeconds: number): number {
  return Math.floor(unixSeconds / RESYNC_PERIOD_SECONDS);
}
