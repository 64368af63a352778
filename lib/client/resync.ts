/**
 * Resync: ask the server for a new sequence number with a request keyed by the UTC minute and the
 * secret (a fresh packet for every try: the server burns used ones). An `ok` reply makes the new
 * number pending on both sides; a `clock-skew` reply says how far this machine's clock is off.
 *
 * @module
 */

import { RESYNC_SKEW_PROBE_MINUTES } from "../protocol/constants.ts";
import { clientResynced } from "../state/sequence.ts";
import { ClientError, count } from "./errors.ts";
import { exchange } from "./exchange.ts";
import { resyncRequest, unixNow } from "./messages.ts";
import type { Session } from "./session.ts";

/** A resync the server granted. */
export interface Resynced {
  /** How long the server keeps the new number pending unused, in seconds. */
  graceSeconds: number;
  /** Requests sent. */
  attempts: number;
}

/** How a resync ended: granted (and saved), refused for the clock, or unanswered. */
export type ResyncOutcome =
  | ({ status: "ok" } & Resynced)
  /** The server's authentic reply: this machine's clock is too far off (`serverClock`, unix s). */
  | { status: "clock-skew"; serverClock: number; attempts: number }
  /** No reply that verified, after `attempts` requests. */
  | { status: "silent"; attempts: number };

/**
 * Resyncs and, when the server grants it, saves the new number as pending (durably); never throws
 * for what the server said or did not say, so a caller can word its own error.
 *
 * @throws {ClientError} When the transport cannot send; {@linkcode StateFileError} for an
 * unusable state file.
 * @example
 * ```ts
 * import { requestResync } from "./resync.ts";
 * import type { Session } from "./session.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function tryResync(session: Session): Promise<void> {
 *   const outcome = await requestResync(session);
 *   if (outcome.status === "silent") console.error(`no reply after ${outcome.attempts} tries`);
 * }
 * ```
 */
export async function requestResync(session: Session): Promise<ResyncOutcome> {
  const { target, log } = session;
  const tries = target.retries + 1;
  const done = await exchange(
    session.transport,
    () => [resyncRequest(session.key, { pad: target.pad })],
    {
      tries,
      timeoutMs: target.timeoutMs,
      onSend: (attempt) => log(`resync: try ${attempt}/${tries}`),
      onIgnored: (reason) => log(`resync: ignored a reply (${reason})`),
    },
  );
  if (done === undefined) return { status: "silent", attempts: tries };
  const reply = done.reply;
  switch (reply.status) {
    case "clock-skew":
      return { status: "clock-skew", serverClock: reply.timestamp, attempts: done.attempts };
    case "ok": {
      const now = unixNow();
      const loaded = await session.state.load(session.identity);
      const state = clientResynced(loaded.sequence, reply.sequence, now + reply.graceSeconds);
      await session.state.save(session.identity, state);
      log(`resync: new sequence number received, pending for ${reply.graceSeconds}s`);
      return { status: "ok", graceSeconds: reply.graceSeconds, attempts: done.attempts };
    }
    default: {
      const unreachable: never = reply;
      throw new TypeError(`Cannot handle resync reply: ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * Resyncs and saves the new number as pending (durably). Confirm it with a check afterwards.
 *
 * @throws {ClientError} When the server says the clock is off (the message says by how much), or
 * when no reply came (the message names the clock as a possible cause).
 * @example
 * ```ts
 * import { resyncSequence } from "./resync.ts";
 * import type { Session } from "./session.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function resync(session: Session): Promise<number | undefined> {
 *   const { graceSeconds } = await resyncSequence(session);
 *   return graceSeconds;
 * }
 * ```
 */
export async function resyncSequence(session: Session): Promise<Resynced> {
  const { target } = session;
  const outcome = await requestResync(session);
  switch (outcome.status) {
    case "ok":
      return { graceSeconds: outcome.graceSeconds, attempts: outcome.attempts };
    case "clock-skew":
      throw new ClientError(
        `Cannot resync with ${target.name}: ${describeSkew(outcome.serverClock)}`,
      );
    case "silent":
      throw new ClientError(
        `Cannot resync with ${target.name}: no reply after ${
          count(outcome.attempts, "try", "tries")
        }; check that ${target.addressText} is reachable and that this machine's clock is right ` +
          `(the server ignores resyncs from a clock more than ${RESYNC_SKEW_PROBE_MINUTES} ` +
          `minutes off)`,
      );
    default: {
      const unreachable: never = outcome;
      throw new TypeError(`Cannot handle resync outcome: ${JSON.stringify(unreachable)}`);
    }
  }
}

/**
 * The clock-skew sentence for a server clock reading of `serverClock` (unix seconds).
 *
 * @example
 * ```ts
 * import { describeSkew } from "./resync.ts";
 * const now = Math.floor(Date.now() / 1000);
 * if (!describeSkew(now + 300).includes("behind")) throw new Error("unexpected");
 * ```
 */
export function describeSkew(serverClock: number, now: number = unixNow()): string {
  const skew = serverClock - now;
  const direction = skew >= 0 ? "behind" : "ahead of";
  return `this machine's clock is ${Math.abs(skew)} seconds ${direction} the server's; ` +
    `set it right (e.g. enable NTP) and try again`;
}
