/**
 * `spa-client --host HOST --port PORT`: the everyday knock. Sends the knock, waits for the ack,
 * verifies it and commits the new sequence number; the caller then runs the program, if any.
 *
 * When no candidate number is acked, the client cannot tell a silent host from one that holds a
 * number it no longer knows (lost acks, crashes, knocks into a dead daemon), so it resyncs once by
 * itself (minute-keyed, authenticated both ways, PROTOCOL.md §7) and knocks again under the new
 * number. Whatever still fails is reported by what the server's answers prove: no answer at all
 * (unreachable, not this key, clock far off), a clock-skew reply (how far off), or a resync
 * answered but no knock acked (refused by policy or not opened).
 *
 * @module
 */

import { RESYNC_SKEW_PROBE_MINUTES } from "../protocol/constants.ts";
import type { TransportKind } from "../config/client.ts";
import { formatPortSpec, type L4Protocol, type PortSpec } from "../protocol/port.ts";
import { ClientError, count } from "./errors.ts";
import { type Rolled, rollSequence } from "./roll.ts";
import { bindingAddress, type Log, openSession, type Session } from "./session.ts";
import type { Target } from "./target.ts";

/** What a successful knock reports (`--json` prints it; it never holds a secret or trailer). */
export interface KnockReport {
  /** The host as named. */
  host: string;
  /** The address knocked. */
  address: string;
  protocol: L4Protocol;
  /** The port opened. */
  port: number;
  transport: TransportKind;
  /** The port the knock was sent to, when not `port`. */
  viaPort: number | undefined;
  /** Whether the knock was bound to the source address. */
  bound: boolean;
  /** Sends of the packet that was acked. */
  attempts: number;
  /** Packets sent in all. */
  sent: number;
  /** From the first send to the verified ack, in milliseconds. */
  elapsedMs: number;
  /** Whether the client was out of sync and resynced by itself before this ack. */
  resynced: boolean;
}

/**
 * Knocks on `target` to open `open`; when no ack comes, resyncs once and knocks again.
 *
 * @throws {ClientError} When no ack came even after a resync, worded by what the host answered
 * (nothing, a clock-skew reply, a resync but no ack), and for every input or transport problem.
 * @example
 * ```ts
 * import { knock } from "./knock.ts";
 * import type { Target } from "./target.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function openSsh(target: Target): Promise<void> {
 *   const report = await knock(target, { protocol: "tcp", port: 22 }, console.error);
 *   if (report.resynced) console.error("was out of sync; resynced");
 * }
 * ```
 */
export async function knock(target: Target, open: PortSpec, log: Log): Promise<KnockReport> {
  const binding = bindingAddress(target);
  const sendPort = target.viaPort ?? open.port;
  await using session = await openSession(target, sendPort, log);
  const started = performance.now();
  const roll = () => rollSequence(session, { open, ...(binding === undefined ? {} : { binding }) });
  let rolled = await roll();
  let sent = rolled.sent;
  let resynced = false;
  if (rolled.ack === undefined) {
    log(`knock: no ack after ${count(rolled.sent, "packet")}; resyncing`);
    await resyncOrExplain(session, rolled, open);
    resynced = true;
    rolled = await roll();
    sent += rolled.sent;
    if (rolled.ack === undefined) throw refusedAfterResync(target, open, sent);
  }
  return {
    host: target.name,
    address: target.addressText,
    protocol: open.protocol,
    port: open.port,
    transport: target.transport,
    viaPort: target.viaPort,
    bound: binding !== undefined,
    attempts: rolled.attempts,
    sent,
    elapsedMs: Math.round(performance.now() - started),
    resynced,
  };
}

/** Resyncs after an unacked knock; throws the error that says why when the resync fails. */
async function resyncOrExplain(session: Session, rolled: Rolled, open: PortSpec) {
  const { target } = session;
  // Loaded only now: a knock that is acked (the usual case) never needs it.
  const { describeSkew, requestResync } = await import("./resync.ts");
  const outcome = await requestResync(session);
  const knocked = `${count(rolled.sent, "packet")}` +
    (rolled.candidates > 1 ? ` under ${rolled.candidates} sequence numbers` : "");
  switch (outcome.status) {
    case "ok":
      return;
    case "clock-skew":
      throw new ClientError(
        `Cannot knock on ${target.name}: no ack to the knock, and the server refused a resync: ` +
          describeSkew(outcome.serverClock),
      );
    case "silent":
      throw new ClientError(
        `Cannot knock on ${target.name}: no answer from ${target.addressText} to the knock for ` +
          `${formatPortSpec(open)} (${knocked}) nor to a resync (${
            count(outcome.attempts, "try", "tries")
          }): the host is unreachable or spa-server is not running there, it does not hold ` +
          `this key for uid ${target.uid}, or this machine's clock is more than ` +
          `${RESYNC_SKEW_PROBE_MINUTES} minutes off`,
      );
    default: {
      const unreachable: never = outcome;
      throw new TypeError(`Cannot handle resync outcome: ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The host answered a resync (key, clock and route are right) but acked no knock. */
function refusedAfterResync(target: Target, open: PortSpec, sent: number): ClientError {
  const nat = target.bindSource.mode === "auto" ? "; behind a NAT use --bind-source none" : "";
  return new ClientError(
    `Cannot knock on ${target.name}: ${target.addressText} answered a resync (so the key, the ` +
      `clock and the route are right) but acked none of ${count(sent, "knock packet")} for ` +
      `${formatPortSpec(open)}: it refuses this knock (the port or this source address is ` +
      `not allowed for uid ${target.uid}${nat}) or could not open the port (see its log)`,
  );
}
