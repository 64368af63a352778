/**
 * `spa-server run`: wires capture, verification, the pipeline, the firewall and the status file,
 * and handles signals (SIGHUP reloads, SIGTERM/SIGINT close every grant and exit).
 *
 * @module
 */

import { findPort, formatPortSpec } from "../protocol/port.ts";
import { hostAddresses } from "../../ffi/interfaces.ts";
import type { ServerConfig } from "../config/server.ts";
import { LoadCache, type LoadedServerConfig, loadServerConfig } from "../config/server_load.ts";
import { budgeted, type Busy, LOAD_SLICE_MS } from "../config/_pause.ts";
import { ServerStore } from "../state/server_store.ts";
import type { FirewallBackend } from "../firewall/backend.ts";
import type { NftBackend } from "../firewall/nft.ts";
import { Counters } from "./counters.ts";
import { GrantBook } from "./grants.ts";
import { type LogFormat, Logger, type LogSink, stderrSink } from "./log.ts";
import { Pipeline } from "./pipeline.ts";
import { ProbeBudget } from "./probe_budget.ts";
import { SourceRateLimit } from "./rate_limit.ts";
import { TableWatch } from "./table_watch.ts";
import { UserCommitter } from "./user_commit.ts";
import { UserFiles } from "./user_files.ts";
import { UserTable } from "./user_table.ts";
import { Verifier } from "./verifier.ts";
import type { CaptureSupervisor } from "./capture_supervisor.ts";
import { type CaptureLoopDeps, openCaptures } from "./capture_loop.ts";
import { createFirewall, protectedPorts, reconfigureFirewall } from "./firewall_setup.ts";
import { ReplySockets } from "./reply_sockets.ts";
import { installSignals } from "./signals.ts";
import { statusFile, StatusWriter } from "./status_writer.ts";
import { ProgramPages, QuietShrink, releaseHeap } from "./release_heap.ts";
import { LocalAddresses } from "./local_addresses.ts";
import { revokeGrants } from "./revoke.ts";
import { holdStateDir, type StateDirHold } from "./state_dir.ts";

export { CAPTURE_BATCH } from "./capture_loop.ts";
/** How often grace periods and grant expiry are checked. */
export const TICK_MS = 1_000;

/** Options of {@linkcode Daemon.start}. */
export interface DaemonOptions {
  /** Overrides the config's log format. */
  logFormat?: LogFormat;
  /** Where log lines go (tests capture them). */
  logSink?: LogSink;
  /**
   * Give the program file's pages back before the captures open, once started, and on the tick
   * after packets ({@linkcode ProgramPages}); `spa-server run` sets it, tests running a daemon in
   * their own process do not (default false).
   */
  releaseProgramPages?: boolean;
}

/**
 * The running daemon.
 *
 * @example
 * ```ts
 * import { Daemon } from "./daemon.ts";
 * // Captures and changes the firewall (root): type-checked by `deno test --doc`, not run.
 * async function serve(configPath: string): Promise<void> {
 *   const daemon = await Daemon.start(configPath, { logFormat: "json" });
 *   await daemon.finished; // until SIGTERM/SIGINT, or daemon.stop()
 * }
 * ```
 */
export class Daemon {
  readonly log: Logger;
  readonly counters = new Counters();
  /** The heap is shrunk after a reload when no packet comes for a while. */
  readonly #shrink = new QuietShrink({ checked: () => this.#verifier.checked });
  /** The program file's pages, given back after packets (`releaseProgramPages`). */
  readonly #programPages: ProgramPages | undefined;
  readonly #configPath: string;
  #config: ServerConfig;
  readonly #users: UserTable;
  readonly #userFiles = new UserFiles();
  /** Key and user files of the last load: a reload reads again only those that changed. */
  readonly #loadCache: LoadCache;
  readonly #committer: UserCommitter;
  readonly #firewall: FirewallBackend;
  /** The nft backend (also in #firewall), when the config uses nft. */
  readonly #nft: NftBackend | undefined;
  readonly #watch: TableWatch | undefined;
  /** Set when teardown begins: nothing is opened any more. */
  #closing = false;
  readonly #grants: GrantBook;
  readonly #pipeline: Pipeline;
  readonly #limit: SourceRateLimit;
  readonly #sockets: ReplySockets;
  #captures: CaptureSupervisor[] = [];
  /** The host's own addresses: knocks for any other destination are dropped. */
  readonly #locals = new LocalAddresses(
    () => hostAddresses().map((a) => a.address),
    () => performance.now(),
  );
  #stateHold: StateDirHold | undefined;
  /** Grants a reload revoked that the firewall has not closed yet (retried each tick). */
  #revokePending = false;
  /** The firewall holds another config's ports (a reload's rollback failed): retried each tick. */
  #firewallStale = false;
  #failure: string | undefined;
  readonly #status: StatusWriter;
  #addressesFailing = false;
  #reloading: Promise<unknown> = Promise.resolve();
  readonly #verifier: Verifier;
  readonly #startedAt = new Date();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The tick in progress, if any (ticks never overlap; stopping waits for it). */
  #ticking: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Removes the signal handlers. */
  #removeSignals: () => void = () => {};
  #resolveFinished!: () => void;
  /** Why the daemon stopped because it could not go on (exit non-zero); unset after a clean stop. */
  get failure(): string | undefined {
    return this.#failure;
  }
  /** Resolves when the daemon has stopped. */
  readonly finished: Promise<void> = new Promise((resolve) => (this.#resolveFinished = resolve));

  private constructor(
    configPath: string,
    loaded: LoadedServerConfig,
    options: DaemonOptions,
    cache: LoadCache,
  ) {
    this.#configPath = configPath;
    this.#loadCache = cache;
    this.#config = loaded.config;
    this.#programPages = options.releaseProgramPages === true
      ? new ProgramPages({ checked: () => this.#verifier.checked })
      : undefined;
    this.log = new Logger(
      options.logFormat ?? loaded.config.logFormat,
      options.logSink ?? stderrSink,
    );
    const store = new ServerStore(loaded.config.stateDir);
    this.#status = new StatusWriter(this.log);
    this.#committer = new UserCommitter(store, this.log, () => this.#status.invalidate());
    this.#users = new UserTable({
      store,
      log: this.log,
      // In the user's turn, so it never races the write of a knock of hers.
      commit: (user) => void this.#pipeline.inTurn(user, () => this.#committer.commitOrLog(user)),
      now: Date.now,
    });
    ({ firewall: this.#firewall, nft: this.#nft } = createFirewall(loaded.config));
    this.#sockets = new ReplySockets(this.log);
    this.#limit = new SourceRateLimit({
      failedPerSecond: loaded.config.rateLimit.failedPerSecond,
      failedBurst: loaded.config.rateLimit.failedBurst,
      capacity: loaded.config.rateLimit.trackedSources,
    });
    this.#verifier = new Verifier({
      users: this.#users,
      limit: this.#limit,
      probe: new ProbeBudget(ProbeBudget.defaults, Date.now()),
      counters: this.counters,
      maxAgeSeconds: loaded.config.maxPacketAgeMs / 1000,
    });
    this.#grants = new GrantBook({
      firewall: this.#firewall,
      commands: (port) => {
        const p = findPort(this.#config.ports, port);
        return {
          ...(p?.onOpen ? { onOpen: p.onOpen } : {}),
          ...(p?.onClose ? { onClose: p.onClose } : {}),
        };
      },
      commandTimeoutMs: loaded.config.commandTimeoutMs,
      log: this.log,
      // Durations on the monotonic clock: a step of the wall clock moves no expiry.
      now: () => performance.now(),
    });
    this.#watch = this.#nft === undefined ? undefined : new TableWatch({
      firewall: this.#nft,
      grants: () => this.#grants.restoring(),
      holds: (grant) => this.#grants.holds(grant),
      log: this.log,
      counters: this.counters,
      now: () => performance.now(),
    });
    this.#pipeline = new Pipeline({
      openGrant: (grant, options) =>
        this.#closing
          ? Promise.reject(new Error("Cannot open grant: the daemon is stopping"))
          : this.#grants.open(grant, options),
      isCurrent: (user) => this.#users.isLive(user),
      commit: (user, state) => this.#committer.commit(user, state),
      reply: (route, trailer) => this.#sockets.send(route, trailer),
      idleTimeoutMs: (port) =>
        findPort(this.#config.ports, port)?.idleTimeoutMs ??
          this.#config.idleTimeoutMs,
      resyncGraceMs: () => this.#config.resyncGraceMs,
      log: this.log,
      counters: this.counters,
      now: Date.now,
    });
  }

  /**
   * Loads the config and every key, restores the users' state, sets up the firewall table, opens
   * the raw sockets and the captures, and starts serving.
   *
   * @throws {ConfigError} When the config is invalid.
   * @throws {Error} When the state folder is unusable (read-only, full, held by another daemon).
   * @throws {Error} When the firewall, a capture or a raw socket cannot be set up (nothing is left
   * open: what was set up is torn down first).
   */
  static async start(configPath: string, options: DaemonOptions = {}): Promise<Daemon> {
    const cache = new LoadCache();
    const loaded = await loadServerConfig(configPath, { strict: false, cache });
    // First, and alone: a daemon that cannot record a sequence number must not start at all.
    const hold = await holdStateDir(loaded.config.stateDir);
    const daemon = new Daemon(configPath, loaded, options, cache);
    daemon.#stateHold = hold;
    try {
      await daemon.#setUp(loaded);
    } catch (error) {
      await daemon.#tearDown("start failed").catch(() => {});
      await hold.release();
      throw error;
    }
    return daemon;
  }

  async #setUp(loaded: LoadedServerConfig): Promise<void> {
    const used = this.#userFiles.apply(loaded, this.log);
    this.#config = used.config;
    await this.#loadUsers(used);
    releaseHeap("shrink"); // the load's garbage is dead, and no capture is open yet
    this.#shrink.settle();
    await this.#firewall.start(protectedPorts(this.#config));
    this.#watch?.start();
    this.#sockets.open();
    this.#programPages?.release();
    this.#captures = openCaptures(this.#config.interfaces, this.#captureDeps());
    this.#removeSignals = installSignals({
      stop: (signal) => void this.stop(signal),
      reload: () => void this.reload(),
    });
    this.#timer = setInterval(() => {
      this.#programPages?.tick(); // apart: it cannot throw, nor delay or skip the expiry below
      // A slow nft call must not stack ticks up.
      if (this.#ticking !== undefined) return;
      this.#ticking = this.#tick()
        .catch((error) => this.log.error("tick-failed", { reason: (error as Error).message }))
        .finally(() => (this.#ticking = undefined));
    }, TICK_MS);
    this.log.info("start", {
      interfaces: this.#config.interfaces.join(","),
      firewall: this.#config.firewall,
      users: this.#users.size,
      ...(loaded.broken.length > 0 ? { user_files_invalid: loaded.broken.length } : {}),
      ports: this.#config.ports.map(formatPortSpec).join(","),
    });
    await this.#writeStatus();
    this.#programPages?.release(); // and what opening the captures and the first status touched
  }

  async #loadUsers(
    loaded: Pick<LoadedServerConfig, "config" | "keys">,
    busy?: Busy,
  ): Promise<void> {
    // A retransmission of a knock the config no longer allows must not reopen its port.
    const changed = await this.#users.replace(
      loaded.config.users,
      loaded.keys,
      loaded.config,
      busy,
    );
    for (const user of changed) {
      // In her turn: a knock committing now publishes first, and this write then holds its state.
      await this.#pipeline.inTurn(user, () => this.#committer.commitOrLog(user));
    }
  }

  /** What the capture side needs; captures opened after a reload take its config. */
  #captureDeps(): CaptureLoopDeps {
    return {
      config: () => this.#config,
      verifier: this.#verifier,
      pipeline: this.#pipeline,
      locals: this.#locals,
      counters: this.counters,
      log: this.log,
      fatal: (name: string, error: Error) => {
        this.#failure ??= `Cannot capture on ${name}: ${error.message}`;
        void this.stop("capture failed");
      },
    };
  }

  async #tick(): Promise<void> {
    const now = Date.now();
    for (const user of this.#users.live()) {
      if (await this.#pipeline.expireGrace(user, now)) {
        this.log.info("resync-expired", { user: user.policy.name });
      }
      user.replay.prune(now / 1000);
    }
    // The table first: a table deleted from outside must be rebuilt, not read as "no grants".
    await this.#watch?.tick();
    const grantsBefore = this.#grants.size;
    const addressError = this.#locals.refresh();
    if (addressError !== undefined && !this.#addressesFailing) {
      // Knocks are then checked against the addresses last read (none: every knock is dropped).
      this.log.error("local-addresses-failed", { reason: addressError.message });
    }
    this.#addressesFailing = addressError !== undefined;
    if (this.#revokePending) await this.#revoke();
    if (this.#firewallStale) {
      await this.#reconfigureFirewall(this.#config).then(
        () => {
          this.#firewallStale = false;
          this.log.info("firewall-reconfigured", { ports: this.#config.ports.length });
        },
        () => {}, // logged once when it failed first; the table watch sees the rest
      );
    }
    try {
      await this.#grants.poll();
    } catch (error) {
      this.log.error("firewall-list-failed", { reason: (error as Error).message });
    }
    if (this.#status.due(this.#grants.size, grantsBefore)) await this.#writeStatus();
  }

  async #writeStatus(): Promise<void> {
    const status = statusFile({
      startedAt: this.#startedAt,
      config: this.#config,
      grants: this.#grants,
      counters: this.counters,
      captures: this.#captures,
      users: this.#users,
    });
    await this.#status.write(this.#config.stateDir, status);
  }

  /**
   * Reloads the config (SIGHUP). Any error (a bad config, the firewall refusing the new ports, a
   * capture that cannot work) is logged as `reload-refused` and the running config kept. A new
   * interface that is not there yet is waited for, as at start. Grants the new config no longer
   * allows are closed at once.
   */
  reload(): Promise<boolean> {
    // One reload at a time: a second SIGHUP waits for the first.
    const next = this.#reloading.then(async () => {
      try {
        if (this.#stopping !== undefined) throw new Error("the daemon is stopping");
        await this.#reload();
        return true;
      } catch (error) {
        this.log.error("reload-refused", { reason: (error as Error).message });
        return false;
      } finally {
        // The load's garbage and the replaced config are dead now.
        if (this.#stopping === undefined) this.#shrink.request();
      }
    });
    this.#reloading = next;
    return next;
  }

  async #reload(): Promise<void> {
    // Knocks in flight finish first at each of the load's slices, within one budget per reload.
    const busy = budgeted(() => this.#pipeline.idle());
    const loaded = this.#userFiles.apply(
      await loadServerConfig(this.#configPath, {
        strict: false,
        cache: this.#loadCache,
        sliceMs: LOAD_SLICE_MS, // knocks are answered between slices
        busy, // and those in flight finish first
      }),
      this.log,
    );
    const old = this.#config;
    if (
      loaded.config.stateDir !== old.stateDir || loaded.config.firewall !== old.firewall ||
      loaded.config.nftTable !== old.nftTable
    ) {
      throw new Error("state_dir, firewall and nft_table cannot change without a restart");
    }
    // Each step that can fail comes before anything is changed, or is undone.
    const wanted = new Set(loaded.config.interfaces);
    const have = new Set(this.#captures.map((c) => c.name));
    let added: CaptureSupervisor[] = [];
    this.#config = loaded.config; // new captures take its settings; restored on failure
    try {
      added = openCaptures([...wanted].filter((name) => !have.has(name)), this.#captureDeps());
      // Nothing to run when only users changed (unless a failed rollback left it stale).
      const ran = await this.#reconfigureFirewall(
        loaded.config,
        this.#firewallStale ? undefined : old,
      ).catch((error) => {
        // nft may have applied the script before it failed or was killed: what the kernel
        // holds is unknown, so the next tick (and reload) sets the running config up again.
        this.#firewallStale = true;
        throw error;
      });
      try {
        await this.#loadUsers(loaded, busy);
      } catch (error) {
        if (!ran) throw error;
        await this.#reconfigureFirewall(old).catch((rollback) => {
          // The firewall now guards the refused config's ports: say so, and retry each tick.
          this.#firewallStale = true;
          this.log.error("firewall-rollback-failed", { reason: (rollback as Error).message });
        });
        throw error;
      }
    } catch (error) {
      this.#config = old;
      await Promise.allSettled(added.map((c) => c.stop()));
      throw error;
    }
    this.#verifier.setMaxAgeSeconds(loaded.config.maxPacketAgeMs / 1000);
    const removed = this.#captures.filter((c) => !wanted.has(c.name));
    this.#captures = [...this.#captures.filter((c) => wanted.has(c.name)), ...added];
    await Promise.allSettled(removed.map((c) => c.stop()));
    // A SIGTERM during the reload has stopped the captures it knew of: stop the new ones too.
    if (this.#stopping !== undefined) await Promise.allSettled(added.map((c) => c.stop()));
    // Knocks checked against the old policy may still be opening their grant: let them finish,
    // so the revocation below sees (and closes) what they open.
    await this.#pipeline.idle();
    this.#revokePending = true;
    await this.#revoke();
    this.log.info("reload", { users: this.#users.size, grants: this.#grants.size });
    await this.#writeStatus();
  }

  /**
   * Sets the protected ports, and for nft the response to scanners and the time limit; nothing
   * when `running` (what the firewall holds) asks for the same. Whether it ran.
   */
  #reconfigureFirewall(config: ServerConfig, running?: ServerConfig): Promise<boolean> {
    return reconfigureFirewall(this.#firewall, this.#nft, config, running);
  }

  /** Closes the grants the config no longer allows; what the firewall refuses is retried. */
  async #revoke(): Promise<void> {
    const users = this.#users.policies();
    this.#revokePending = !await revokeGrants(this.#grants, this.#firewall, users, this.log);
  }

  /** Stops serving: closes every grant, runs `on_close`, removes the firewall table. */
  stop(reason = "stop"): Promise<void> {
    this.#stopping ??= this.#tearDown(reason).finally(() => this.#resolveFinished());
    return this.#stopping;
  }

  async #tearDown(reason: string): Promise<void> {
    this.#closing = true;
    this.#removeSignals();
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#shrink.stop();
    // No hung nft holds the exit up: the run in progress is killed, queued ones are refused, and
    // only the last one (emptying the sets) runs, within its time limit.
    this.#nft?.cancelPending();
    // A tick in progress (poll, revocation, status write) finishes before the grants are closed
    // and the state folder is let go; its nft runs were just cancelled, so it ends promptly.
    await this.#ticking?.catch(() => {});
    await this.#watch?.stop();
    await Promise.allSettled(this.#captures.map((c) => c.stop()));
    await this.#pipeline.idle();
    await this.#grants.closeAll(reason);
    await this.#firewall.stop().catch((error) =>
      this.log.error("firewall-stop-failed", { reason: (error as Error).message })
    );
    this.#sockets.close();
    this.#users.destroy();
    await this.#writeStatus();
    await this.#stateHold?.release();
    this.log.info("stop", { reason });
  }
}
