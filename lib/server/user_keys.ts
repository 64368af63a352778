/**
 * One user's live keys on the server: derived once per sequence number (or per minute for
 * resync), never per packet.
 *
 * The keys always tried for a packet carrying this user's UID are the knock and check keys under
 * each number the user's sequence state accepts (two keys, four during a resync's grace period),
 * then the resync keys of the accepted window (the current UTC minute and its neighbours: three
 * keys). Nothing an attacker can drain stands between a user's packet and these five (or seven)
 * tag checks: there is no per-user budget, so a flood forging this user's UID from anywhere else
 * costs the daemon at most seven tag computations per packet and the user nothing. Only the
 * clock-skew probe (the 28 further minutes, tried to tell a skewed client why it is not answered)
 * is paid from budgets, per source and in total (`probe_budget.ts`).
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

/**
 * Keys of one user.
 *
 * @example
 * ```ts
 * import { UserKeys } from "./user_keys.ts";
 * const keys = new UserKeys(1000, new Uint8Array(32), { state: "current", sequence: 5 });
 * if (keys.primary.length !== 2) throw new Error("knock and check keys expected");
 * if (keys.resyncKeys(29_000_000).length !== 3) throw new Error("three resync minutes expected");
 * if (keys.skewProbeKeys(29_000_000).length !== 28) throw new Error("28 probe minutes expected");
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
  #window:
    | { minute: number; keys: readonly MessageKey[]; probe: readonly MessageKey[] }
    | undefined;

  /** Keys for `uid` (under its server key `secret`) following `sequence`. */
  constructor(uid: number, secret: Uint8Array, sequence: ServerSequence) {
    this.uid = uid;
    this.#secret = secret.slice();
    this.bindingKey = deriveBindingKey(this.#secret, uid);
    this.#sequence = sequence;
    this.#derivePrimary();
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
   * The resync keys of the accepted window at `minute`, nearest first: `minute`, `minute - 1`,
   * `minute + 1`. Tried for every packet that no knock or check key verifies; derived once per
   * minute, never per packet.
   */
  resyncKeys(minute: number): readonly MessageKey[] {
    return this.#windowAt(minute).keys;
  }

  /**
   * The clock-skew probe at `minute`: the resync keys of the minutes 2 to 15 away, nearest first.
   * A resync verified under one of them comes from a skewed clock and is answered as such. The
   * caller pays for trying them (`ProbeBudget`).
   */
  skewProbeKeys(minute: number): readonly MessageKey[] {
    return this.#windowAt(minute).probe;
  }

  #windowAt(minute: number) {
    if (this.#window?.minute === minute) return this.#window;
    const span = RESYNC_SKEW_PROBE_MINUTES;
    for (const m of this.#resync.keys()) {
      if (Math.abs(m - minute) > span) {
        this.#resync.get(m)?.destroy();
        this.#resync.delete(m);
      }
    }
    const ordered: MessageKey[] = [];
    for (let d = 0; d <= span; d++) {
      for (const m of d === 0 ? [minute] : [minute - d, minute + d]) {
        let key = this.#resync.get(m);
        if (key === undefined) {
          key = deriveMessageKey(this.#secret, this.uid, "resync", m);
          this.#resync.set(m, key);
        }
        ordered.push(key);
      }
    }
    const inWindow = 1 + 2 * RESYNC_SKEW_MINUTES;
    this.#window = { minute, keys: ordered.slice(0, inWindow), probe: ordered.slice(inWindow) };
    return this.#window;
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
    this.#resync.clear();
    this.#window = undefined;
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
