/**
 * Counters of dropped packets by reason, and of what was accepted.
 *
 * @module
 */

import { REJECT_REASONS, type RejectReason } from "../protocol/open.ts";

/** Every counter the daemon keeps. */
export type CounterName =
  /** Frames the decoder refused (not IP, truncated, fragments...). */
  | "undecodable"
  /** Payload shorter than a trailer. */
  | "no-trailer"
  /** A packet for an address that is not the host's (seen on a shared segment). */
  | "foreign-destination"
  /** A source over its failed-verification budget while the daemon was loaded. */
  | "rate-limited"
  /** An authentic resync from a clock outside the window (answered with clock-skew). */
  | "clock-skew"
  /** An authentic message the user's policy does not allow (port, source, binding). */
  | "policy"
  /** A retransmitted knock or check answered again. */
  | "retransmit"
  /** A retransmission not answered: over the user's re-ack rate, or one already waiting. */
  | "retransmit-limited"
  /** An authentic packet dropped because its user's work queue was full. */
  | "queue-full"
  /** Work queued for a user a reload removed or gave a new key: dropped when its turn came. */
  | "user-reloaded"
  /** The firewall table was found deleted or changed from outside, and rebuilt. */
  | "table-restored"
  /** Knocks, checks and resyncs accepted. */
  | "accepted"
  | RejectReason;

/** The counters in display order: before verification, the verdicts, then what was done. */
export const COUNTER_NAMES: readonly CounterName[] = [
  "undecodable",
  "no-trailer",
  "foreign-destination",
  "rate-limited",
  ...REJECT_REASONS,
  "clock-skew",
  "policy",
  "retransmit",
  "retransmit-limited",
  "queue-full",
  "user-reloaded",
  "accepted",
  "table-restored",
];

/**
 * A fixed set of named counters.
 *
 * @example
 * ```ts
 * import { Counters } from "./counters.ts";
 * const counters = new Counters();
 * counters.count("tag");
 * if (counters.snapshot().tag !== 1) throw new Error("unexpected");
 * ```
 */
export class Counters {
  readonly #values = new Map<CounterName, number>(COUNTER_NAMES.map((name) => [name, 0]));

  /** Adds `n` (default 1) to `name`. */
  count(name: CounterName, n = 1): void {
    this.#values.set(name, (this.#values.get(name) ?? 0) + n);
  }

  /** The current values, by name. */
  snapshot(): Record<CounterName, number> {
    return Object.fromEntries(this.#values) as Record<CounterName, number>;
  }
}
