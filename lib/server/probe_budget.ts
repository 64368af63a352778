/**
 * What the clock-skew probe may cost: budgets per source, with bounded memory, and in total.
 *
 * A resync that no key of the accepted window verifies may come from a client whose clock is a few
 * minutes off; trying the 28 resync keys of the minutes 2 to 15 away tells it so (a sealed
 * clock-skew reply) instead of leaving it to time out. That costs 28 tag checks, so it is rationed
 * — and only it: the knock, check and resync keys of the accepted window are tried for every
 * packet, unbudgeted, so no flood can take a user's chances away (see `user_keys.ts`).
 *
 * Each source (an exact address, never a hash bucket) has its own small budget, so a flood from
 * other addresses does not touch a client's probes; the table holds at most `capacity` sources and
 * forgets the source least recently granted a probe first (a forgotten source starts again with a
 * full budget).
 * The total budget bounds the CPU of floods from many (spoofed) sources, each of which would
 * otherwise arrive with a fresh budget: under such a flood a skewed client may get silence instead
 * of its clock-skew reply (it says then that its clock may be off); a client whose clock is right
 * is never affected.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/** Settings of {@linkcode ProbeBudget}. */
export interface ProbeBudgetOptions {
  /** Probes per second one source may cause. */
  perSourcePerSecond: number;
  /** Burst of one source. */
  perSourceBurst: number;
  /** Probes per second in total. */
  totalPerSecond: number;
  /** Burst in total. */
  totalBurst: number;
  /** Most sources remembered. */
  capacity: number;
}

/**
 * Defaults: a client retrying a resync every half second is always served; at most 200 probes
 * (5,600 tag checks, a few milliseconds of CPU) per second in total.
 */
export const DEFAULT_PROBE_BUDGET: Readonly<ProbeBudgetOptions> = Object.freeze({
  perSourcePerSecond: 2,
  perSourceBurst: 4,
  totalPerSecond: 200,
  totalBurst: 400,
  capacity: 4096,
});

/**
 * Probe budgets.
 *
 * @example
 * ```ts
 * import { ProbeBudget } from "./probe_budget.ts";
 * const budget = new ProbeBudget({ ...ProbeBudget.defaults, perSourceBurst: 1 }, 0);
 * if (!budget.take("10.77.0.9", 0) || budget.take("10.77.0.9", 0)) throw new Error("one per source");
 * if (!budget.take("10.77.0.2", 0)) throw new Error("another source has its own budget");
 * ```
 */
export class ProbeBudget {
  /** {@linkcode DEFAULT_PROBE_BUDGET}. */
  static readonly defaults = DEFAULT_PROBE_BUDGET;
  readonly #sources = new Map<number | string, TokenBucket>();
  readonly #total: TokenBucket;
  readonly #options: ProbeBudgetOptions;

  constructor(options: ProbeBudgetOptions = DEFAULT_PROBE_BUDGET, nowMs = 0) {
    this.#options = options;
    this.#total = new TokenBucket(options.totalPerSecond, options.totalBurst, nowMs);
  }

  /**
   * Whether the total budget has a probe left at `nowMs` (checked first, so a flood that spent it
   * costs no per-source lookup, nor the allocation of an IPv6 source's key).
   */
  open(nowMs: number): boolean {
    return this.#total.has(1, nowMs);
  }

  /**
   * Takes one probe for `source` (an address as a number or text) at `nowMs` if both allow it.
   *
   * Only a granted probe moves `source` to the most recent end of the table; a refused one writes
   * nothing. A flood from one source whose budget is spent is refused here for every packet, and a
   * delete and set per packet on this long-lived `Map` made V8 allocate a new hash table each time,
   * straight into the old generation (measured: 9.6 MB of dead tables per collection under the
   * flooder's maximum, the daemon's RSS peak 7 MB higher; README, Performance, Memory).
   */
  take(source: number | string, nowMs: number): boolean {
    const known = this.#sources.get(source);
    if (known !== undefined) {
      if (!known.has(1, nowMs) || !this.#total.has(1, nowMs)) return false;
      this.#sources.delete(source);
      this.#sources.set(source, known);
      known.take(1, nowMs);
      this.#total.take(1, nowMs);
      return true;
    }
    if (!this.#total.has(1, nowMs)) return false;
    if (this.#sources.size >= this.#options.capacity) {
      // Maps iterate in insertion order: the first key is the least recently granted source.
      const oldest = this.#sources.keys().next().value;
      if (oldest !== undefined) this.#sources.delete(oldest);
    }
    const bucket = new TokenBucket(
      this.#options.perSourcePerSecond,
      this.#options.perSourceBurst,
      nowMs,
    );
    this.#sources.set(source, bucket);
    if (!bucket.take(1, nowMs)) return false; // a burst under one probe
    this.#total.take(1, nowMs);
    return true;
  }

  /** Number of sources remembered. */
  get size(): number {
    return this.#sources.size;
  }
}
