/**
 * A token bucket: `rate` tokens per second, at most `burst` saved up.
 *
 * @module
 */

/**
 * A token bucket over a caller-supplied clock (milliseconds), so tests drive time.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./token_bucket.ts";
 * const bucket = new TokenBucket(10, 2, 0);
 * if (!bucket.take(2, 0) || bucket.take(1, 0) || !bucket.take(1, 100)) throw new Error("unexpected");
 * ```
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  readonly #rate: number;
  readonly #burst: number;

  /** A full bucket refilled at `ratePerSecond`, holding at most `burst`, at clock `nowMs`. */
  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    if (!(ratePerSecond > 0) || !(burst > 0)) {
      throw new RangeError("Cannot create token bucket: rate and burst must be positive");
    }
    this.#rate = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = nowMs;
  }

  /** Takes `n` tokens at `nowMs` if there are that many; returns whether it did. */
  take(n: number, nowMs: number): boolean {
    this.#refill(nowMs);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Whether at least `n` tokens are available at `nowMs` (takes none). */
  has(n: number, nowMs: number): boolean {
    this.#refill(nowMs);
    return this.#tokens >= n;
  }

  #refill(nowMs: number): void {
    if (nowMs > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (nowMs - this.#last) * this.#rate);
    }
    // A wall clock stepped back must not freeze the bucket until it catches up: refill from the
    // new time on (a step forward fills it at most to its burst).
    this.#last = nowMs;
  }
}
