/**
 * The daemon's status file (`<state_dir>/status.json`), rewritten every few seconds and after each
 * event, and its reader for `spa-server status`. It holds no secret: user names, addresses, ports,
 * counters.
 *
 * @module
 */

import { formatDuration } from "../config/duration.ts";
import { COUNTER_NAMES, type CounterName } from "./counters.ts";
import type { UserGrant } from "./users.ts";
import { formatPortSpec } from "../protocol/port.ts";
import { writeFileAtomic } from "../state/atomic_file.ts";

/** Seconds between rewrites while the daemon is idle. */
export const STATUS_INTERVAL_MS = 5_000;
/** A status file older than this is from a daemon that is no longer running. */
export const STATUS_STALE_MS = 3 * STATUS_INTERVAL_MS;

/** A live grant as `spa-server status` shows it. */
export interface GrantStatus extends UserGrant {
  openedAt: string;
  /** At least this long before it can close (as of the last look at the kernel). */
  expiresInMs: number;
}

/** What the status file holds. */
export interface StatusFile {
  version: 1;
  pid: number;
  startedAt: string;
  updatedAt: string;
  interfaces: string[];
  firewall: string;
  grants: GrantStatus[];
  counters: Record<CounterName, number>;
  capture: { interface: string; received: number; dropped: number; ifDropped: number }[];
  /** Configured interfaces not captured now: missing or down, waited for. */
  captureWaiting?: string[];
  /** How many users are configured (absent in files of older versions). */
  userCount?: number;
  /**
   * The users with a resync pending, only: the file's size does not grow with the number of
   * users.
   */
  users: { name: string; uid: number; state: "current" | "pending"; graceUntil?: string }[];
}

/** The status file's path inside a state folder. */
export function statusPath(stateDir: string): string {
  return `${stateDir}/status.json`;
}

/**
 * Writes the status file (temp file + rename: readers never see half a file; not fsynced, since a
 * lost status is rewritten seconds later).
 *
 * @example
 * ```ts
 * import { COUNTER_NAMES, type CounterName } from "./counters.ts";
 * import { readStatus, writeStatus } from "./status.ts";
 * const stateDir = await Deno.makeTempDir();
 * const now = new Date().toISOString();
 * const counters = Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0]));
 * await writeStatus(stateDir, {
 *   version: 1,
 *   pid: Deno.pid,
 *   startedAt: now,
 *   updatedAt: now,
 *   interfaces: ["eth0"],
 *   firewall: "nft",
 *   grants: [],
 *   counters: counters as Record<CounterName, number>,
 *   capture: [],
 *   users: [],
 * });
 * if ((await readStatus(stateDir))?.pid !== Deno.pid) throw new Error("not read back");
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export async function writeStatus(stateDir: string, status: StatusFile): Promise<void> {
  // Rewritten every few seconds: a crash may lose the last one, so no flush is worth its cost.
  await writeFileAtomic(statusPath(stateDir), JSON.stringify(status, null, 2) + "\n", {
    mode: 0o640,
    durable: false,
  });
}

/**
 * Reads the status file; `undefined` when there is none.
 *
 * @throws {SyntaxError} When the file is not a status file.
 * @example
 * ```ts
 * import { readStatus } from "./status.ts";
 * const stateDir = await Deno.makeTempDir();
 * if (await readStatus(stateDir) !== undefined) throw new Error("no daemon wrote one yet");
 * await Deno.remove(stateDir);
 * ```
 */
export async function readStatus(stateDir: string): Promise<StatusFile | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(statusPath(stateDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<StatusFile>;
  if (
    parsed.version !== 1 || !Array.isArray(parsed.grants) || typeof parsed.counters !== "object"
  ) {
    throw new SyntaxError(`Cannot read status: ${statusPath(stateDir)} is not a spa status file`);
  }
  return parsed as StatusFile;
}

/**
 * Human-readable status: whether the daemon runs, its grants with the time they have left (as of
 * the last update) and the non-zero counters. `running` is whether a live daemon holds the state
 * folder (see `state_dir.ts`); when omitted, the status file's age decides. A status file older
 * than {@linkcode STATUS_STALE_MS} is called stale: from a daemon that has stopped, or, when one
 * runs, from one that cannot write its state folder.
 *
 * @example
 * ```ts
 * import { formatStatus } from "./status.ts";
 * const text = formatStatus({
 *   version: 1, pid: 1, startedAt: "2026-01-01T00:00:00.000Z", updatedAt: "2026-01-01T00:00:05.000Z",
 *   interfaces: ["eth0"], firewall: "nft", grants: [], counters: {} as never, capture: [], users: [],
 * }, Date.parse("2026-01-01T00:00:06.000Z"));
 * if (!text.includes("running")) throw new Error(text);
 * ```
 */
export function formatStatus(
  status: StatusFile,
  nowMs: number,
  running: boolean = nowMs - Date.parse(status.updatedAt) <= STATUS_STALE_MS,
): string {
  const age = nowMs - Date.parse(status.updatedAt);
  const stale = age > STATUS_STALE_MS;
  const lines: string[] = [];
  if (!running) {
    lines.push(
      `spa-server: not running (stale status file: last written ${
        formatDuration(Math.max(0, age))
      } ago by pid ${status.pid})`,
    );
  } else {
    lines.push(
      `spa-server: running, pid ${status.pid}, since ${status.startedAt}, on ${
        status.interfaces.join(", ")
      }, firewall ${status.firewall}`,
    );
    if (stale) {
      lines.push(
        `warning: the status file is stale (last written ${
          formatDuration(age)
        } ago): the daemon cannot write its state folder; what follows is as of then`,
      );
    }
  }
  for (const name of status.captureWaiting ?? []) {
    lines.push(`capture ${name}: waiting for the interface (missing or down)`);
  }
  lines.push("", status.grants.length === 0 ? "grants: none" : "grants:");
  if (status.grants.length > 0) {
    lines.push("  USER        ADDRESS                                  PORT       TIME LEFT");
    for (const g of status.grants) {
      const left = g.expiresInMs === undefined
        ? "?"
        : formatDuration(Math.max(0, g.expiresInMs - age));
      lines.push(
        `  ${g.user.padEnd(11)} ${g.address.padEnd(40)} ${formatPortSpec(g).padEnd(10)} ${left}`,
      );
    }
  }
  const pending = status.users.filter((u) => u.state === "pending");
  if (pending.length > 0) {
    lines.push("", "resync pending:");
    for (const u of pending) lines.push(`  ${u.name} (uid ${u.uid}) until ${u.graceUntil}`);
  }
  lines.push("", "packets:");
  for (const name of COUNTER_NAMES) {
    const value = status.counters[name] ?? 0;
    if (value !== 0 || name === "accepted") lines.push(`  ${name.padEnd(18)} ${value}`);
  }
  for (const c of status.capture) {
    lines.push(
      `  capture ${c.interface}: received ${c.received}, dropped ${c.dropped}, interface dropped ${c.ifDropped}`,
    );
  }
  return lines.join("\n");
}
