/**
 * Per-source limit on failed verifications, with bounded memory.
 *
 * Keys are exact sources, never hash buckets, so a flood spoofing many addresses cannot drain the
 * bucket of a source it does not use (the daemon keys by flow: address and port, so a flood from
 * one port of a client's address does not drain the bucket of the client's own knocks either); the table holds at most `capacity` sources and
 * forgets the least recently failing one first (a forgotten source starts again with a full
 * bucket, which only ever errs towards verifying). The daemon consults it only while it is under
 * load (a capture batch came back full): a source over its budget is then skipped before any
 * cryptography, so one noisy sender cannot eat the CPU valid knocks need. Its known limit: an
 * attacker who spoofs one particular client's address and port at a high rate while the daemon is
 * loaded can delay that client's knocks from that port (the client's next run uses another port),
 * and the limit resets when the flood stops.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/** Settings of {@linkcode SourceRateLimit}. */
export interface SourceRateLimitOptions {
  /** Failed verifications per second a source may cause while the daemon is loaded. */
  failedPerSecond: number;
  /** How many failures a source may cause in a burst. */
  failedBurst: number;
  /** Most sources remembered. */
  capacity?: number;
}

/** Default number of sources remembered. */
export const DEFAULT_SOURCE_CAPACITY = 65_536;

/**
 * Failure budgets of recent sources.
 *
 * @example
 * ```ts
 * import { SourceRateLimit } from "./rate_limit.ts";
 * const limit = new SourceRateLimit({ failedPerSecond: 1, failedBurst: 2 });
 * limit.failed("10.77.0.9", 0);
 * limit.failed("10.77.0.9", 0);
 * if (limit.allowed("10.77.0.9", 0) || !limit.allowed("10.77.0.2", 0)) throw new Error("unexpected");
 * ```
 */
export class SourceRateLimit {
  readonly #buckets = new Map<number | string, TokenBucket>();
  readonly #options: Required<SourceRateLimitOptions>;

  constructor(options: SourceRateLimitOptions) {
    this.#options = { capacity: DEFAULT_SOURCE_CAPACITY, ...options };
  }

  /** Whether `source` (an address as a number or text) may still be verified at `nowMs`. */
  allowed(source: number | string, nowMs: number): boolean {
    const bucket = this.#buckets.get(source);
    return bucket === undefined || bucket.has(1, nowMs);
  }

  /** Records a failed verification from `source`. */
  failed(source: number | string, nowMs: number): void {
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#options.capacity) {
        // Maps iterate in insertion order: the first key is the least recently failing source.
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
      bucket = new TokenBucket(this.#options.failedPerSecond, this.#options.failedBurst, nowMs);
    } else {
      this.#buckets.delete(source);
    }
    this.#buckets.set(source, bucket);
    bucket.take(1, nowMs);
  }

  /** Number of sources remembered. */
  get size(): number {
    return this.#buckets.size;
  }
}
