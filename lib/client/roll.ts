/**
 * Spending a sequence number: a knock (opens a port) or a check (opens nothing), each asking the
 * server to roll to a fresh number, committed only after a verified ack.
 *
 * One request is made per candidate of `clientCandidates` (the client's own number first, then
 * numbers the server may have moved to), all asking for the same fresh number. It is saved as
 * unconfirmed before anything is sent (so a crash or a lost ack leaves the client knowing where the
 * server may be), and all requests are sent together, the very same packets on every retry. The
 * server accepts at most one: whichever it takes, it moves to the fresh number, which none of the
 * others is keyed by. One shared number means an unanswered knock adds one number to what the
 * server may hold, not one per candidate (which doubled the list with each unanswered knock and
 * pushed the server's number out of it). Sending them together bounds a knock to
 * `(retries + 1) × timeout` however many candidates there are; with no unconfirmed number (the
 * usual case) there is exactly one request.
 *
 * @module
 */

import { DEFAULT_MAX_AGE_SECONDS } from "../protocol/constants.ts";
import { randomSequence } from "../protocol/random.ts";
import type { StateOrigin } from "../state/client_store.ts";
import { clientAcked, clientCandidates, clientSending } from "../state/sequence.ts";
import { count } from "./errors.ts";
import { exchange } from "./exchange.ts";
import type { PortSpec } from "../protocol/port.ts";
import { type Ack, rollRequest, unixNow } from "./messages.ts";
import type { Session } from "./session.ts";

/** Options of {@linkcode rollSequence}. */
export interface RollOptions {
  /** What a knock asks to open; absent for a check. */
  open?: PortSpec;
  /** Bind the knock to this source address. */
  binding?: Uint8Array;
}

/** The outcome of {@linkcode rollSequence}; `ack` is undefined when none verified. */
export interface Rolled {
  /** The verified ack, or undefined. */
  ack: Ack | undefined;
  /** Tries until the ack (all of them when none came). */
  attempts: number;
  /** Packets sent in all. */
  sent: number;
  /** How many sequence numbers were tried. */
  candidates: number;
  /** Which candidate was acked (0: the client's own number); -1 without an ack. */
  acked: number;
  /** Where the state came from. */
  origin: StateOrigin;
}

/**
 * Knocks (`options.open`) or checks under every candidate number; commits the acked one's new
 * number durably.
 *
 * @throws {ClientError} When the transport cannot send; {@linkcode StateFileError} for an
 * unusable state file.
 * @example
 * ```ts
 * import { rollSequence } from "./roll.ts";
 * import type { Session } from "./session.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function knockOnce(session: Session): Promise<boolean> {
 *   const rolled = await rollSequence(session, { open: { protocol: "tcp", port: 22 } });
 *   if (rolled.ack === undefined) console.error("no ack");
 *   return rolled.ack !== undefined;
 * }
 * ```
 */
export async function rollSequence(session: Session, options: RollOptions = {}): Promise<Rolled> {
  const { target, identity, state: store, log } = session;
  const kind = options.open === undefined ? "check" : "knock";
  const loaded = await store.load(identity);
  if (loaded.origin !== "stored") {
    log(`state: starting from the key file's sequence number (${describeOrigin(loaded.origin)})`);
  }
  let state = loaded.sequence;
  const candidates = clientCandidates(state, unixNow());
  // One fresh number for every candidate: whichever request the server accepts, it moves there.
  const next = randomSequence([...candidates, ...(state.unconfirmed ?? [])]);
  const plans = candidates.map((current) => ({ current, next }));
  state = clientSending(state, next);
  const requests = plans.map((plan) =>
    rollRequest(session.key, {
      current: plan.current,
      next: plan.next,
      pad: target.pad,
      maxAge: DEFAULT_MAX_AGE_SECONDS,
      ...(options.open === undefined ? {} : { open: options.open }),
      ...(options.binding === undefined ? {} : { binding: options.binding }),
    })
  );
  // Durable before anything leaves (PROTOCOL.md §7), and synchronous: each step of the save
  // would otherwise wait for a turn of the event loop and a thread of Deno's I/O pool. It goes
  // to the journal (one in-place write and fdatasync); the state file takes the outcome below.
  store.saveSync(identity, state);
  const tries = target.retries + 1;
  const numbers = plans.length === 1 ? "" : ` under ${plans.length} candidate sequence numbers`;
  let done;
  try {
    done = await exchange(session.transport, () => requests, {
      tries,
      timeoutMs: target.timeoutMs,
      onSend: (attempt) => log(`${kind}: try ${attempt}/${tries}${numbers}`),
      onIgnored: (reason) => log(`${kind}: ignored a reply (${reason})`),
    });
  } catch (error) {
    // The state file takes the unconfirmed number too; should that fail, the journal keeps it.
    await store.save(identity, state).catch(() => {});
    throw error;
  }
  const outcome = {
    candidates: plans.length,
    origin: loaded.origin,
    attempts: done?.attempts ?? tries,
    sent: (done?.attempts ?? tries) * plans.length,
  };
  if (done === undefined) {
    // The journal held the unconfirmed number while packets were out; the state file takes it.
    await store.save(identity, state);
    return { ...outcome, ack: undefined, acked: -1 };
  }
  const acked = requests.indexOf(done.request);
  state = clientAcked(state, plans[acked]!.next);
  await store.save(identity, state);
  log(
    `${kind}: ack verified after ${
      count(done.attempts, "try", "tries")
    }; new sequence number committed`,
  );
  return { ...outcome, ack: done.reply, acked };
}

function describeOrigin(origin: StateOrigin): string {
  switch (origin) {
    case "initial":
      return "no state file yet";
    case "new-key":
      return "the state file was for another key";
    case "stored":
      return "stored";
    default: {
      const unreachable: never = origin;
      return unreachable;
    }
  }
}
