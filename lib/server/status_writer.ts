/**
 * The daemon's side of the status file (`status.ts` holds its format and reader): what goes in
 * it, when it is due, and a failing write logged once per outage, not every tick.
 *
 * @module
 */

import type { ServerConfig } from "../config/server.ts";
import type { CaptureSupervisor } from "./capture_supervisor.ts";
import type { Counters } from "./counters.ts";
import type { GrantBook } from "./grants.ts";
import type { Logger } from "./log.ts";
import { STATUS_INTERVAL_MS, type StatusFile, writeStatus } from "./status.ts";
import type { ServerUser } from "./users.ts";
import type { UserTable } from "./user_table.ts";

/** Writes the status file; `spa-server status` reports the stale file while writes fail. */
export class StatusWriter {
  readonly #log: Logger;
  #failing = false;
  /** Monotonic time of the last write (a wall-clock step must not stop the writes). */
  #last = -Infinity;

  /** A writer logging to `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Makes the next tick write (the users' state changed). */
  invalidate(): void {
    this.#last = -Infinity;
  }

  /** Whether a tick must write: the interval passed, or grants are open or changed. */
  due(grants: number, grantsBefore: number): boolean {
    return performance.now() - this.#last >= STATUS_INTERVAL_MS || grants > 0 ||
      grants !== grantsBefore;
  }

  /** Writes `status` into `stateDir`; a failure is logged once per outage. */
  async write(stateDir: string, status: StatusFile): Promise<void> {
    this.#last = performance.now();
    try {
      await writeStatus(stateDir, status);
      if (this.#failing) this.#log.info("status-write-ok");
      this.#failing = false;
    } catch (error) {
      // Once per outage, not every tick: `spa-server status` reports the stale file meanwhile.
      if (!this.#failing) {
        this.#log.error("status-write-failed", { reason: (error as Error).message });
      }
      this.#failing = true;
    }
  }
}

/** What the daemon's status file is made of. */
export interface StatusParts {
  startedAt: Date;
  config: ServerConfig;
  grants: GrantBook;
  counters: Counters;
  captures: readonly CaptureSupervisor[];
  users: UserTable;
}

/** The status file of a daemon, as of now. */
export function statusFile(parts: StatusParts): StatusFile {
  return {
    version: 1,
    pid: Deno.pid,
    startedAt: parts.startedAt.toISOString(),
    updatedAt: new Date().toISOString(),
    interfaces: [...parts.config.interfaces],
    firewall: parts.config.firewall,
    grants: parts.grants.snapshot(),
    counters: parts.counters.snapshot(),
    capture: parts.captures.flatMap((c) => {
      const capture = c.capture;
      return capture === undefined ? [] : [{ interface: c.name, ...capture.stats() }];
    }),
    captureWaiting: parts.captures.filter((c) => c.state === "waiting").map((c) => c.name),
    userCount: parts.users.size,
    users: pendingUsers(parts.users.live()),
  };
}

/** The users with a resync pending (only live users can have one). */
function pendingUsers(users: Iterable<ServerUser>): StatusFile["users"] {
  const out: StatusFile["users"] = [];
  for (const u of users) {
    const s = u.keys.sequence;
    if (s.state !== "pending") continue;
    out.push({
      name: u.policy.name,
      uid: u.uid,
      state: s.state,
      graceUntil: new Date(s.graceUntil).toISOString(),
    });
  }
  return out;
}
