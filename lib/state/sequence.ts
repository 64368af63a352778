/**
 * The sequence-number state machines of both sides, as pure functions. PROTOCOL.md draws them;
 * the state names here are the names there.
 *
 * Server, per user:
 * ```
 *            knock/check under `sequence`  ──▶ current(next)
 * current ── resync ──▶ pending(sequence, pending = fresh, graceUntil = now + grace)
 * pending ── knock/check under `pending` or `sequence` ──▶ current(next)
 * pending ── resync ──▶ pending(same pending, grace extended)
 * pending ── grace passes unused ──▶ current(sequence)        (the old number is valid again)
 * ```
 * Client, per host:
 * ```
 * current ── verified ack of a knock/check keyed by `sequence` ──▶ current(next)
 * current ── verified resync-reply(ok, n) ──▶ pending(sequence = n, previous, graceUntil)
 * pending ── verified ack ──▶ current(next)
 * pending ── grace passes unused ──▶ current(previous)
 * ```
 * A client also remembers the `next` of each knock it sent without an ack (`unconfirmed`, newest
 * last, at most {@linkcode MAX_UNCONFIRMED}): if the server accepted one and only the ack was lost,
 * the server now expects that number.
 *
 * @module
 */

import { isSequence } from "../protocol/message.ts";

/** The server's view of one user's sequence numbers. */
export type ServerSequence =
  | { state: "current"; sequence: number }
  | { state: "pending"; sequence: number; pending: number; graceUntil: number };

/** The client's view of one host's sequence numbers. */
export type ClientSequence =
  | { state: "current"; sequence: number; unconfirmed?: number[] }
  | {
    state: "pending";
    sequence: number;
    previous: number;
    graceUntil: number;
    unconfirmed?: number[];
  };

/** Most unconfirmed numbers a client remembers (newest kept). */
export const MAX_UNCONFIRMED = 4;

/**
 * The numbers a server accepts knocks and checks under, most likely first.
 *
 * @example
 * ```ts
 * import { serverValidSequences } from "./sequence.ts";
 * const numbers = serverValidSequences({ state: "pending", sequence: 1, pending: 2, graceUntil: 9 });
 * if (numbers.join() !== "2,1") throw new Error("unexpected");
 * ```
 */
export function serverValidSequences(s: ServerSequence): number[] {
  switch (s.state) {
    case "current":
      return [s.sequence];
    case "pending":
      return [s.pending, s.sequence];
    default:
      return unreachable(s);
  }
}

/**
 * The server accepted a knock or check keyed by `keyedBy` (a valid number) asking to roll to `next`.
 *
 * @throws {RangeError} When `keyedBy` is not a number the state accepts, or `next` is not usable.
 * @example
 * ```ts
 * import { serverRolled } from "./sequence.ts";
 * const s = serverRolled({ state: "current", sequence: 1 }, 1, 5);
 * if (s.state !== "current" || s.sequence !== 5) throw new Error("unexpected");
 * ```
 */
export function serverRolled(s: ServerSequence, keyedBy: number, next: number): ServerSequence {
  if (!serverValidSequences(s).includes(keyedBy)) {
    throw new RangeError(
      `Cannot roll sequence: ${keyedBy} is not a valid number in state ${s.state}`,
    );
  }
  if (!isSequence(next)) {
    throw new RangeError(`Cannot roll sequence: ${next} is not a sequence number`);
  }
  return { state: "current", sequence: next };
}

/**
 * The server accepted a resync: a fresh pending number (or the one already pending, so a client
 * whose reply was lost gets the same answer again), valid until `graceUntil`.
 *
 * @example
 * ```ts
 * import { serverResynced } from "./sequence.ts";
 * const s = serverResynced({ state: "current", sequence: 1 }, 7, 100);
 * if (s.state !== "pending" || s.pending !== 7 || s.sequence !== 1) throw new Error("unexpected");
 * ```
 */
export function serverResynced(
  s: ServerSequence,
  fresh: number,
  graceUntil: number,
): ServerSequence {
  switch (s.state) {
    case "current":
      if (!isSequence(fresh) || fresh === s.sequence) {
        throw new RangeError(`Cannot resync: ${fresh} is not a fresh sequence number`);
      }
      return { state: "pending", sequence: s.sequence, pending: fresh, graceUntil };
    case "pending":
      return { ...s, graceUntil: Math.max(s.graceUntil, graceUntil) };
    default:
      return unreachable(s);
  }
}

/**
 * The server's state once the grace period is over at `now`: an unused pending number is dropped
 * and the old number is the only valid one again.
 *
 * @example
 * ```ts
 * import { serverAfterGrace } from "./sequence.ts";
 * const s = serverAfterGrace({ state: "pending", sequence: 1, pending: 2, graceUntil: 10 }, 11);
 * if (s.state !== "current" || s.sequence !== 1) throw new Error("unexpected");
 * ```
 */
export function serverAfterGrace(s: ServerSequence, now: number): ServerSequence {
  if (s.state === "pending" && now > s.graceUntil) {
    return { state: "current", sequence: s.sequence };
  }
  return s;
}

/**
 * The numbers a client should try, in order: its own number, then a number the server may have
 * moved to (an unconfirmed knock whose ack was lost), then the number from before a resync whose
 * grace has passed.
 *
 * @example
 * ```ts
 * import { clientCandidates } from "./sequence.ts";
 * const c = clientCandidates({ state: "current", sequence: 1, unconfirmed: [2, 3] }, 0);
 * if (c.join() !== "1,3,2") throw new Error("unexpected");
 * ```
 */
export function clientCandidates(s: ClientSequence, now: number): number[] {
  const out = [s.sequence];
  if (s.unconfirmed !== undefined) out.push(...[...s.unconfirmed].reverse());
  if (s.state === "pending") {
    // Past the grace period the server has gone back to the old number: try it first.
    if (now > s.graceUntil) out.unshift(s.previous);
    else out.push(s.previous);
  }
  return [...new Set(out)];
}

/**
 * The client is about to send a knock or check asking for `next`: remember `next` as unconfirmed
 * (persist this before sending).
 *
 * @example
 * ```ts
 * import { clientSending } from "./sequence.ts";
 * if (clientSending({ state: "current", sequence: 1 }, 9).unconfirmed?.join() !== "9") {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function clientSending(s: ClientSequence, next: number): ClientSequence {
  const unconfirmed = [...(s.unconfirmed ?? []).filter((n) => n !== next), next];
  return { ...s, unconfirmed: unconfirmed.slice(-MAX_UNCONFIRMED) };
}

/**
 * The client verified the ack of its knock or check asking for `next`: that is now its number.
 *
 * @example
 * ```ts
 * import { clientAcked } from "./sequence.ts";
 * const s = clientAcked({ state: "pending", sequence: 3, previous: 1, graceUntil: 0 }, 8);
 * if (s.state !== "current" || s.sequence !== 8) throw new Error("unexpected");
 * ```
 */
export function clientAcked(_s: ClientSequence, next: number): ClientSequence {
  if (!isSequence(next)) {
    throw new RangeError(`Cannot commit sequence: ${next} is not a sequence number`);
  }
  return { state: "current", sequence: next };
}

/**
 * The client verified a resync reply carrying `sequence`; the server holds it pending until
 * `graceUntil` (the client's estimate), after which its old number is valid again.
 *
 * @example
 * ```ts
 * import { clientResynced } from "./sequence.ts";
 * const s = clientResynced({ state: "current", sequence: 1 }, 4, 100);
 * if (s.state !== "pending" || s.previous !== 1) throw new Error("unexpected");
 * ```
 */
export function clientResynced(
  s: ClientSequence,
  sequence: number,
  graceUntil: number,
): ClientSequence {
  if (!isSequence(sequence)) {
    throw new RangeError(`Cannot resync: ${sequence} is not a sequence number`);
  }
  // The server keeps the number it held before its pending one; so does the client.
  const previous = s.state === "pending" ? s.previous : s.sequence;
  return { state: "pending", sequence, previous, graceUntil };
}

function unreachable(value: never): never {
  throw new TypeError(`Cannot handle sequence state: ${JSON.stringify(value)}`);
}
