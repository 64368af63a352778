/**
 * `spa-client --host HOST --port PORT`: the everyday knock. Sends the knock, waits for the ack,
 * verifies it and commits the new sequence number; the caller then runs the program, if any.
 *
 * @module
 */

import { ClientError, count } from "./errors.ts";
import type { OpenRequest } from "./messages.ts";
import { rollSequence } from "./roll.ts";
import { bindingAddress, type Log, openSession } from "./session.ts";
import { hostArguments, type Target } from "./target.ts";

/** What a successful knock reports (`--json` prints it; it never holds a secret or trailer). */
export interface KnockReport {
  /** The host as named. */
  host: string;
  /** The address knocked. */
  address: string;
  protocol: "tcp" | "udp";
  /** The port opened. */
  port: number;
  transport: "syn" | "udp";
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
}

/**
 * Knocks on `target` to open `open`.
 *
 * @throws {ClientError} When no ack came (with the hint to resync), and for every input or
 * transport problem.
 * @example
 * ```ts ignore
 * const report = await knock(target, { protocol: "tcp", port: 22 }, () => {});
 * ```
 */
export async function knock(target: Target, open: OpenRequest, log: Log): Promise<KnockReport> {
  const binding = bindingAddress(target);
  const sendPort = target.viaPort ?? open.port;
  await using session = await openSession(target, sendPort, log);
  const started = performance.now();
  const rolled = await rollSequence(session, {
    open,
    ...(binding === undefined ? {} : { binding }),
  });
  if (rolled.ack === undefined) {
    const numbers = rolled.candidates > 1 ? ` (${rolled.candidates} sequence numbers tried)` : "";
    const nat = target.bindSource.mode === "auto" ? " (behind a NAT: --bind-source none)" : "";
    const packets = count(rolled.sent, "packet");
    throw new ClientError(
      `Cannot knock on ${target.name}: no ack from ${target.addressText} after ${packets}` +
        `${numbers}; the host is unreachable${nat} or out of sync: run ` +
        `spa-client resync ${hostArguments(target)}`,
    );
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
    sent: rolled.sent,
    elapsedMs: Math.round(performance.now() - started),
  };
}
