/**
 * One user's live keys on the server: derived once per sequence number (or per minute for
 * resync), never per packet.
 *
 * The keys always tried for a packet carrying this user's UID are the knock and check keys under
 * each number the user's sequence state accepts (two keys, four during a resync's grace period).
 * Resync keys (the current UTC minute and its neighbours, then the wider clock-skew probe range)
 * cost more tries; they are spent from a per-user budget, so a flood forging this user's UID costs
 * the daemon two tag computations per packet however long it lasts.
 *
 * @module
 */

import { RESYNC_SKEW_MINUTES, RESYNC_SKEW_PROBE_MINUTES } from "../protocol/constants.ts";
import {
  type BindingKey,
  deriveBindingKey,
  deriveMessageKey,
  type MessageKey,
} from "../protocol/key_schedule.ts";
import { type ServerSequence, serverValidSequences } from "../state/sequence.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Tag computations per second a user's resync keys may cost, and the burst allowed. */
export const RESYNC_TRIES_PER_SECOND = 2_000;
/** Burst of {@linkcode RESYNC_TRIES_PER_SECOND}. */
export const RESYNC_TRIES_BURST = 4_000;

/**
 * Keys of one user.
 *
 * @example
 * ```ts
 * import { UserKeys } from "./user_keys.ts";
 * const keys = new UserKeys(1000, new Uint8Array(32), { state: "current", sequence: 5 }, 0);
 * if (keys.primary.length !== 2) throw new Error("knock and check keys expected");
 * ```
 */
export class UserKeys {
  /** The user id. */
  readonly uid: number;
  /** The user's binding key. */
  readonly bindingKey: BindingKey;
  readonly #secret: Uint8Array;
  #primary: MessageKey[] = [];
  #sequence: ServerSequence;
  readonly #resync = new Map<number, MessageKey>();
  readonly #resyncBudget: TokenBucket;

  /** Keys for `uid` under `sequence`; `nowMs` starts the resync budget. */
  constructor(uid: number, secret: Uint8Array, sequence: ServerSequence, nowMs: number) {
    this.uid = uid;
    this.#secret = secret.slice();
    this.bindingKey = deriveBindingKey(this.#secret, uid);
    this.#sequence = sequence;
    this.#derivePrimary();
    this.#resyncBudget = new TokenBucket(RESYNC_TRIES_PER_SECOND, RESYNC_TRIES_BURST, nowMs);
  }

  /** The sequence state the keys follow. */
  get sequence(): ServerSequence {
    return this.#sequence;
  }

  /** Moves to a new sequence state, deriving the keys it needs (old keys are destroyed). */
  set sequence(next: ServerSequence) {
    this.#sequence = next;
    this.#derivePrimary();
  }

  /** Knock and check keys under every number the state accepts, most likely first. */
  get primary(): readonly MessageKey[] {
    return this.#primary;
  }

  /**
   * Resync keys to try at `minute`, nearest first: the accepted window (±1 minute) and then, for
   * recognising a skewed clock, up to ±15 minutes. Returns an empty list when the user's resync
   * budget cannot pay for them at `nowMs`.
   */
  resyncKeys(minute: number, nowMs: number): readonly MessageKey[] {
    const span = RESYNC_SKEW_PROBE_MINUTES;
    const count = 2 * span + 1;
    if (!this.#resyncBudget.take(count, nowMs)) return [];
    for (const m of this.#resync.keys()) {
      if (Math.abs(m - minute) > span + 1) {
        this.#resync.get(m)?.destroy();
        this.#resync.delete(m);
      }
    }
    const keys: MessageKey[] = [];
    for (let d = 0; d <= span; d++) {
      for (const m of d === 0 ? [minute] : [minute - d, minute + d]) {
        let key = this.#resync.get(m);
        if (key === undefined) {
          key = deriveMessageKey(this.#secret, this.uid, "resync", m);
          this.#resync.set(m, key);
        }
        keys.push(key);
      }
    }
    return keys;
  }

  /** Whether a resync verified under `keyMinute` is inside the accepted window around `minute`. */
  static resyncInWindow(keyMinute: number, minute: number): boolean {
    return Math.abs(keyMinute - minute) <= RESYNC_SKEW_MINUTES;
  }

  /** A key to seal a reply of `kind` under `context` (acks and resync replies). */
  replyKey(kind: "ack" | "resync-reply", context: number): MessageKey {
    return deriveMessageKey(this.#secret, this.uid, kind, context);
  }

  /** Overwrites every key (best effort). */
  destroy(): void {
    for (const key of this.#primary) key.destroy();
    for (const key of this.#resync.values()) key.destroy();
    this.#secret.fill(0);
  }

  #derivePrimary(): void {
    for (const key of this.#primary) key.destroy();
    this.#primary = serverValidSequences(this.#sequence).flatMap((n) => [
      deriveMessageKey(this.#secret, this.uid, "knock", n),
      deriveMessageKey(this.#secret, this.uid, "check", n),
    ]);
  }

  /** Keys never print. */
  [Symbol.for("Deno.customInspect")](): string {
    return `UserKeys { uid: ${this.uid}, state: ${this.#sequence.state} }`;
  }
}
