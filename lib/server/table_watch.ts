/**
 * Keeps the daemon's nftables table in the kernel: notices when it is deleted or changed from
 * outside (`nft flush ruleset`, the first line of Debian's `/etc/nftables.conf`; `nft delete table
 * inet spa`; a rule removed) and rebuilds it with the grants that are still live.
 *
 * Two triggers: a long-lived `nft monitor` child, whose removal events (`delete table|chain|rule|set
 * inet TABLE`, `flush ...`) start a check within milliseconds; and the daemon's tick, which checks
 * every {@linkcode CHECK_INTERVAL_MS} while the monitor runs and on every tick while it does not
 * (it is restarted, with a back-off, when it exits). A check lists the table and compares it with
 * what the backend made; any difference rebuilds the whole table in one transaction.
 *
 * @module
 */

import type { Grant } from "../firewall/backend.ts";
import type { Counters } from "./counters.ts";
import type { Logger } from "./log.ts";
import { formatPortSpec } from "../protocol/port.ts";

/** Seconds between checks driven by the tick while `nft monitor` runs (it catches the rest). */
export const CHECK_INTERVAL_MS = 10_000;
/** First delay before `nft monitor` is started again after it exited; doubles up to the max. */
export const MONITOR_RESTART_MS = 1_000;
/** Longest delay before `nft monitor` is started again. */
export const MONITOR_RESTART_MAX_MS = 30_000;

/** What the watch needs of the firewall (the `nft` backend). */
export interface WatchedTable {
  /** The table's name (family inet). */
  readonly table: string;
  /** What differs from the table the backend made, or `undefined`. */
  verify(): Promise<string | undefined>;
  /**
   * Rebuilds the table with the grants `grants()` returns (called when the rebuild runs, after
   * every firewall change queued before it), in one transaction; returns them.
   */
  restore(grants: () => readonly Grant[]): Promise<readonly Grant[]>;
  /** Removes one grant. */
  close(target: Grant): Promise<void>;
  /** Starts `nft monitor`. */
  spawnMonitor(): Deno.ChildProcess;
}

/** Settings of {@linkcode TableWatch}. */
export interface TableWatchOptions {
  firewall: WatchedTable;
  /** The grants to write back (each with its full timeout). */
  grants: () => Grant[];
  /** Whether the daemon still holds a grant (one it closed meanwhile is removed again). */
  holds: (grant: Grant) => boolean;
  log: Logger;
  counters: Counters;
  /** Monotonic clock, milliseconds. */
  now: () => number;
}

/**
 * Watches one table.
 *
 * @example
 * ```ts
 * import type { NftBackend } from "../firewall/nft.ts";
 * import type { Counters } from "./counters.ts";
 * import type { GrantBook } from "./grants.ts";
 * import type { Logger } from "./log.ts";
 * import { TableWatch } from "./table_watch.ts";
 * // Runs `nft monitor` (root): type-checked by `deno test --doc`, not run.
 * async function watchFor(firewall: NftBackend, book: GrantBook, log: Logger, counters: Counters) {
 *   const watch = new TableWatch({
 *     firewall,
 *     grants: () => book.restoring(),
 *     holds: (grant) => book.holds(grant),
 *     log,
 *     counters,
 *     now: () => performance.now(),
 *   });
 *   watch.start();
 *   await watch.tick(); // from the daemon's timer
 *   await watch.stop();
 * }
 * ```
 */
export class TableWatch {
  readonly #options: TableWatchOptions;
  #monitor: Deno.ChildProcess | undefined;
  #monitorDone: Promise<void> = Promise.resolve();
  #restartDelay = MONITOR_RESTART_MS;
  #restartTimer: ReturnType<typeof setTimeout> | undefined;
  #lastCheck = -Infinity;
  #checking: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(options: TableWatchOptions) {
    this.#options = options;
  }

  /** Whether `nft monitor` runs now. */
  get monitoring(): boolean {
    return this.#monitor !== undefined;
  }

  /** Starts `nft monitor` (a failure to start it is logged; the tick then checks every time). */
  start(): void {
    if (this.#stopped) return;
    let child: Deno.ChildProcess;
    try {
      child = this.#options.firewall.spawnMonitor();
    } catch (error) {
      this.#options.log.warn("table-monitor-failed", { reason: (error as Error).message });
      this.#scheduleRestart();
      return;
    }
    this.#monitor = child;
    this.#monitorDone = this.#read(child).finally(() => {
      this.#monitor = undefined;
      if (this.#stopped) return;
      this.#options.log.warn("table-monitor-stopped", {
        restart_in_ms: this.#restartDelay,
      });
      this.#scheduleRestart();
    });
  }

  /** From the daemon's tick: checks when due (always, while the monitor is not running). */
  async tick(): Promise<void> {
    if (this.#monitor !== undefined && this.#options.now() - this.#lastCheck < CHECK_INTERVAL_MS) {
      return;
    }
    await this.check();
  }

  /**
   * Checks the table now and rebuilds it when it differs. Calls made during a check run one more
   * check after it (changes can come in bursts). Never rejects: failures are logged.
   */
  check(): Promise<void> {
    if (this.#checking !== undefined) {
      this.#again = true;
      return this.#checking;
    }
    this.#checking = (async () => {
      do {
        this.#again = false;
        await this.#checkOnce();
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  /** Stops the monitor and waits for it (and a check in progress) to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    try {
      this.#monitor?.kill("SIGTERM");
    } catch { /* already exited */ }
    await this.#monitorDone;
    await this.#checking;
  }

  async #checkOnce(): Promise<void> {
    if (this.#stopped) return;
    const { firewall, log, counters } = this.#options;
    this.#lastCheck = this.#options.now();
    let problem: string | undefined;
    try {
      problem = await firewall.verify();
    } catch (error) {
      log.error("table-check-failed", { reason: (error as Error).message });
      return;
    }
    if (problem === undefined || this.#stopped) return;
    log.error("table-lost", { table: `inet ${firewall.table}`, reason: problem });
    let grants: readonly Grant[];
    try {
      grants = await firewall.restore(this.#options.grants);
    } catch (error) {
      log.error("table-restore-failed", { reason: (error as Error).message });
      return;
    }
    counters.count("table-restored");
    log.info("table-restored", { table: `inet ${firewall.table}`, grants: grants.length });
    // A grant the daemon let go of while the rebuild ran (its user revoked, or expired in the
    // kernel just before) must not live on in the new table untracked.
    for (const grant of grants) {
      if (this.#options.holds(grant)) continue;
      await firewall.close(grant).catch((error) =>
        log.error("table-restore-close-failed", {
          address: grant.address,
          port: formatPortSpec(grant),
          reason: (error as Error).message,
        })
      );
    }
  }

  async #read(child: Deno.ChildProcess): Promise<void> {
    const table = this.#options.firewall.table;
    // Removals only: the daemon's own grants add and delete elements all the time.
    const removal = new RegExp(`^(delete|flush) (table|chain|rule|set) inet ${table}( |$)`);
    let buffer = "";
    try {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let i: number;
        let hit = false;
        while ((i = buffer.indexOf("\n")) >= 0) {
          hit ||= removal.test(buffer.slice(0, i));
          buffer = buffer.slice(i + 1);
        }
        if (hit && !this.#stopped) {
          this.#restartDelay = MONITOR_RESTART_MS;
          void this.check();
        }
      }
    } catch { /* the child was killed */ }
    await child.status;
  }

  #scheduleRestart(): void {
    if (this.#stopped) return;
    const delay = this.#restartDelay;
    this.#restartDelay = Math.min(MONITOR_RESTART_MAX_MS, delay * 2);
    this.#restartTimer = setTimeout(() => this.start(), delay);
  }
}
