/**
 * `spa-client check` (the cron check: proves sync and rolls the sequence, opening nothing; resyncs
 * by itself when the host answers only to resync) and `spa-client resync`.
 *
 * @module
 */

import { ClientError, count } from "./errors.ts";
import { DEFAULT_CHECK_PORT } from "./options.ts";
import { resyncSequence } from "./resync.ts";
import { rollSequence } from "./roll.ts";
import { type Log, openSession, type Session } from "./session.ts";
import { hostArguments, type Target } from "./target.ts";

/** How a check ended. */
export type CheckStatus =
  /** The check was acked: client and server agree. */
  | "in-sync"
  /** The check got no ack; a resync and a confirming check brought the host back. */
  | "resynced";

/** What `check` and `resync` report for one host. */
export interface SyncReport {
  host: string;
  address: string;
  status: CheckStatus;
  /** Seconds the resynced number would have stayed pending unused (after a resync). */
  graceSeconds: number | undefined;
  elapsedMs: number;
}

/**
 * The port a check or resync of `target` is sent to.
 *
 * @example
 * ```ts
 * import { parseClientConfig } from "../config/client.ts";
 * import { checkPort } from "./check.ts";
 * import { resolveTarget } from "./target.ts";
 * const config = parseClientConfig(
 *   '[hosts.web1]\naddress = "10.77.0.1"\nuid = 1000\nkey_file = "/k/alice.key"\nport = 2222\n',
 *   { env: (name) => (name === "HOME" ? "/home/alice" : undefined) },
 * );
 * const target = await resolveTarget(config, "web1", {});
 * if (checkPort(target, undefined) !== 2222 || checkPort(target, 22) !== 22) throw new Error();
 * ```
 */
export function checkPort(target: Target, port: number | undefined): number {
  return target.viaPort ?? port ?? target.port ?? DEFAULT_CHECK_PORT;
}

/**
 * Checks `target`, resyncing when the check gets no ack.
 *
 * @throws {ClientError} When neither the check nor a resync and its confirmation succeeded.
 * @example
 * ```ts
 * import { checkHost } from "./check.ts";
 * import type { Target } from "./target.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function check(target: Target): Promise<void> {
 *   const report = await checkHost(target, undefined, () => {});
 *   if (report.status === "resynced") console.log("was out of sync");
 * }
 * ```
 */
export function checkHost(target: Target, port: number | undefined, log: Log): Promise<SyncReport> {
  return sync(target, port, log, "check");
}

/**
 * Resyncs `target` and confirms the new number with a check.
 *
 * @throws {ClientError} When the resync fails (clock off, no reply) or the check under the new
 * number gets no ack.
 * @example
 * ```ts
 * import { resyncHost } from "./check.ts";
 * import type { Target } from "./target.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function resync(target: Target): Promise<number | undefined> {
 *   const report = await resyncHost(target, undefined, () => {});
 *   return report.graceSeconds;
 * }
 * ```
 */
export function resyncHost(
  target: Target,
  port: number | undefined,
  log: Log,
): Promise<SyncReport> {
  return sync(target, port, log, "resync");
}

async function sync(
  target: Target,
  port: number | undefined,
  log: Log,
  first: "check" | "resync",
): Promise<SyncReport> {
  await using session = await openSession(target, checkPort(target, port), log);
  const started = performance.now();
  let status: CheckStatus = "resynced";
  let graceSeconds: number | undefined;
  if (first === "check") {
    const rolled = await rollSequence(session);
    if (rolled.ack !== undefined) status = "in-sync";
    else log(`check: no ack after ${count(rolled.sent, "packet")}; resyncing`);
  }
  if (status === "resynced") graceSeconds = await resyncAndConfirm(session);
  return {
    host: target.name,
    address: target.addressText,
    status,
    graceSeconds,
    elapsedMs: Math.round(performance.now() - started),
  };
}

async function resyncAndConfirm(session: Session): Promise<number> {
  const { graceSeconds } = await resyncSequence(session);
  const confirmed = await rollSequence(session);
  if (confirmed.ack === undefined) {
    const target = session.target;
    const packets = count(confirmed.sent, "packet");
    throw new ClientError(
      `Cannot confirm the resync with ${target.name}: the check under the new number got no ` +
        `ack after ${packets}; it stays pending for ${graceSeconds}s: run ` +
        `spa-client check ${hostArguments(target)}`,
    );
  }
  return graceSeconds;
}
