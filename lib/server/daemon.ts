/**
 * `spa-server run`: wires capture, verification, the pipeline, the firewall and the status file,
 * and handles signals (SIGHUP reloads, SIGTERM/SIGINT close every grant and exit).
 *
 * @module
 */

import { Capture } from "../../ffi/pcap.ts";
import { RawSocket } from "../../ffi/raw_socket.ts";
import type { ServerConfig } from "../config/server.ts";
import { type LoadedServerConfig, loadServerConfig } from "../config/server_load.ts";
import { decodeFrame } from "../packet/decode.ts";
import { PacketView } from "../packet/view.ts";
import { serverAfterGrace } from "../state/sequence.ts";
import { ServerStore } from "../state/server_store.ts";
import type { FirewallBackend } from "../firewall/backend.ts";
import { NftBackend } from "../firewall/nft.ts";
import { NoneBackend } from "../firewall/none.ts";
import { Counters } from "./counters.ts";
import { GrantBook } from "./grants.ts";
import { Logger, type LogSink, stderrSink } from "./log.ts";
import { Pipeline } from "./pipeline.ts";
import { ProbeBudget } from "./probe_budget.ts";
import { SourceRateLimit } from "./rate_limit.ts";
import { replyPacket, type ReplyRoute, replyRouteOf } from "./reply_route.ts";
import { STATUS_INTERVAL_MS, type StatusFile, writeStatus } from "./status.ts";
import { loadUsers, type ServerUser } from "./users.ts";
import { type VerifyContext, verifyPacket } from "./verifier.ts";

/** Packets read per synchronous batch; a full batch means the capture is backlogged. */
export const CAPTURE_BATCH = 256;
/** How often grace periods and grant expiry are checked. */
export const TICK_MS = 1_000;

/** Options of {@linkcode Daemon.start}. */
export interface DaemonOptions {
  /** Overrides the config's log format. */
  logFormat?: "text" | "json";
  /** Where log lines go (tests capture them). */
  logSink?: LogSink;
}

interface LiveCapture {
  name: string;
  capture: Capture;
  done: Promise<void>;
}

/**
 * The running daemon.
 *
 * @example
 * ```ts ignore
 * const daemon = await Daemon.start("/etc/spa/server.toml");
 * await daemon.finished; // until SIGTERM/SIGINT
 * ```
 */
export class Daemon {
  readonly log: Logger;
  readonly counters = new Counters();
  readonly #configPath: string;
  #config: ServerConfig;
  #users = new Map<number, ServerUser>();
  readonly #store: ServerStore;
  readonly #firewall: FirewallBackend;
  readonly #grants: GrantBook;
  readonly #pipeline: Pipeline;
  readonly #limit: SourceRateLimit;
  readonly #sockets = new Map<4 | 6, RawSocket>();
  #captures: LiveCapture[] = [];
  readonly #context: VerifyContext;
  readonly #startedAt = new Date();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lastStatus = 0;
  #ticking = false;
  #stopping: Promise<void> | undefined;
  readonly #signals: [Deno.Signal, () => void][] = [];
  #resolveFinished!: () => void;
  /** Resolves when the daemon has stopped. */
  readonly finished: Promise<void> = new Promise((resolve) => (this.#resolveFinished = resolve));

  private constructor(configPath: string, loaded: LoadedServerConfig, options: DaemonOptions) {
    this.#configPath = configPath;
    this.#config = loaded.config;
    this.log = new Logger(
      options.logFormat ?? loaded.config.logFormat,
      options.logSink ?? stderrSink,
    );
    this.#store = new ServerStore(loaded.config.stateDir);
    this.#firewall = loaded.config.firewall === "nft"
      ? new NftBackend({ table: loaded.config.nftTable, keepTableOnStop: true })
      : new NoneBackend();
    this.#limit = new SourceRateLimit({
      failedPerSecond: loaded.config.rateLimit.failedPerSecond,
      failedBurst: loaded.config.rateLimit.failedBurst,
      capacity: loaded.config.rateLimit.trackedSources,
    });
    this.#context = {
      users: this.#users,
      limit: this.#limit,
      probe: new ProbeBudget(ProbeBudget.defaults, Date.now()),
      counters: this.counters,
      maxAgeSeconds: loaded.config.maxPacketAgeMs / 1000,
      underLoad: false,
    };
    this.#grants = new GrantBook({
      firewall: this.#firewall,
      commands: (port) => {
        const p = this.#config.ports.find((c) =>
          c.protocol === port.protocol && c.port === port.port
        );
        return {
          ...(p?.onOpen ? { onOpen: p.onOpen } : {}),
          ...(p?.onClose ? { onClose: p.onClose } : {}),
        };
      },
      commandTimeoutMs: loaded.config.commandTimeoutMs,
      log: this.log,
      now: Date.now,
    });
    this.#pipeline = new Pipeline({
      openGrant: (grant) => this.#grants.open(grant),
      commit: (user) => this.#commit(user),
      reply: (route, trailer) => this.#reply(route, trailer),
      idleTimeoutMs: (port) =>
        this.#config.ports.find((p) => p.protocol === port.protocol && p.port === port.port)
          ?.idleTimeoutMs ??
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
   * @throws {Error} When the firewall, a capture or a raw socket cannot be set up (nothing is left
   * open: what was set up is torn down first).
   */
  static async start(configPath: string, options: DaemonOptions = {}): Promise<Daemon> {
    const loaded = await loadServerConfig(configPath);
    const daemon = new Daemon(configPath, loaded, options);
    try {
      await daemon.#setUp(loaded);
    } catch (error) {
      await daemon.#tearDown("start failed").catch(() => {});
      throw error;
    }
    return daemon;
  }

  async #setUp(loaded: LoadedServerConfig): Promise<void> {
    await Deno.mkdir(this.#config.stateDir, { recursive: true, mode: 0o700 });
    await this.#loadUsers(loaded);
    await this.#firewall.start(this.#config.ports.map((p) => ({
      protocol: p.protocol,
      port: p.port,
      idleTimeoutMs: p.idleTimeoutMs,
    })));
    this.#sockets.set(4, RawSocket.open(4));
    this.#sockets.set(6, RawSocket.open(6));
    this.#openCaptures(this.#config.interfaces);
    this.#installSignals();
    this.#timer = setInterval(() => {
      // A slow nft call must not stack ticks up.
      if (this.#ticking) return;
      this.#ticking = true;
      this.#tick().finally(() => (this.#ticking = false));
    }, TICK_MS);
    this.log.info("start", {
      interfaces: this.#config.interfaces.join(","),
      firewall: this.#config.firewall,
      users: this.#users.size,
      ports: this.#config.ports.map((p) => `${p.protocol}/${p.port}`).join(","),
    });
    await this.#writeStatus();
  }

  async #loadUsers(loaded: LoadedServerConfig): Promise<void> {
    this.#users = await loadUsers(loaded, this.#users, this.#store, this.log);
    this.#context.users = this.#users;
  }

  #openCaptures(interfaces: readonly string[]): void {
    for (const name of interfaces) {
      const capture = Capture.open(name, {
        // Only what arrives: the daemon's own answers carry its users' UIDs too.
        direction: "in",
        bufferSize: this.#config.captureBufferBytes,
        promiscuous: this.#config.promiscuous,
        ...(this.#config.bpfFilter !== undefined ? { filter: this.#config.bpfFilter } : {}),
        ...(this.#config.libpcapPath !== undefined
          ? { libraryPath: this.#config.libpcapPath }
          : {}),
      });
      const live: LiveCapture = { name, capture, done: Promise.resolve() };
      live.done = this.#serve(capture).catch((error) => {
        this.log.error("capture-failed", { interface: name, reason: (error as Error).message });
        void this.stop("capture failed");
      });
      this.#captures.push(live);
    }
  }

  async #serve(capture: Capture): Promise<void> {
    const view = new PacketView();
    const linkType = capture.linkType;
    const context = this.#context;
    const counters = this.counters;
    const onPacket = (frame: Uint8Array, length: number) => {
      if (decodeFrame(linkType, frame, length, view) !== "ok") {
        counters.count("undecodable");
        return;
      }
      const outcome = verifyPacket(context, frame, view, Date.now());
      if (outcome !== undefined) void this.#pipeline.handle(outcome, replyRouteOf(frame, view));
    };
    // Synchronous batches, then an async poll (see ffi/pcap.ts for the measurements). The poll is
    // awaited even after a full batch, when it returns at once: that turn of the event loop is
    // what lets queued work (state writes, nft, commands) progress under a flood.
    while (!capture.closed) {
      const n = capture.read(onPacket, CAPTURE_BATCH);
      context.underLoad = n === CAPTURE_BATCH;
      if (!await capture.wait()) break;
    }
  }

  #reply(route: ReplyRoute, trailer: Uint8Array): void {
    const packet = replyPacket(route, trailer);
    if (packet === undefined) return;
    const socket = this.#sockets.get(route.remote.length === 4 ? 4 : 6);
    try {
      socket?.send(packet, route.remote);
    } catch (error) {
      this.log.error("reply-failed", { reason: (error as Error).message });
    }
  }

  async #commit(user: ServerUser): Promise<void> {
    await this.#store.save(user.uid, user.fingerprint, {
      sequence: user.keys.sequence,
      replay: user.replay,
      ...(user.lastAccepted ? { lastAccepted: user.lastAccepted } : {}),
    });
    this.#lastStatus = 0;
  }

  async #tick(): Promise<void> {
    const now = Date.now();
    for (const user of this.#users.values()) {
      const before = user.keys.sequence;
      const after = serverAfterGrace(before, now);
      if (after !== before) {
        user.keys.sequence = after;
        await this.#commit(user).catch((error) =>
          this.log.error("state-write-failed", {
            user: user.policy.name,
            reason: (error as Error).message,
          })
        );
        this.log.info("resync-expired", { user: user.policy.name });
      }
      user.replay.prune(now / 1000);
    }
    try {
      await this.#grants.poll();
    } catch (error) {
      this.log.error("firewall-list-failed", { reason: (error as Error).message });
    }
    if (now - this.#lastStatus >= STATUS_INTERVAL_MS || this.#grants.size > 0) {
      await this.#writeStatus();
    }
  }

  async #writeStatus(): Promise<void> {
    this.#lastStatus = Date.now();
    const status: StatusFile = {
      version: 1,
      pid: Deno.pid,
      startedAt: this.#startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
      interfaces: [...this.#config.interfaces],
      firewall: this.#config.firewall,
      grants: this.#grants.snapshot(),
      counters: this.counters.snapshot(),
      capture: this.#captures.filter((c) => !c.capture.closed).map((c) => ({
        interface: c.name,
        ...c.capture.stats(),
      })),
      users: [...this.#users.values()].map((u) => {
        const s = u.keys.sequence;
        return {
          name: u.policy.name,
          uid: u.uid,
          state: s.state,
          ...(s.state === "pending" ? { graceUntil: new Date(s.graceUntil).toISOString() } : {}),
        };
      }),
    };
    try {
      await writeStatus(this.#config.stateDir, status);
    } catch (error) {
      this.log.error("status-write-failed", { reason: (error as Error).message });
    }
  }

  /** Reloads the config (SIGHUP). A bad config is refused and the running one kept. */
  async reload(): Promise<boolean> {
    let loaded: LoadedServerConfig;
    try {
      loaded = await loadServerConfig(this.#configPath);
    } catch (error) {
      this.log.error("reload-refused", { reason: (error as Error).message });
      return false;
    }
    const old = this.#config;
    if (loaded.config.stateDir !== old.stateDir || loaded.config.firewall !== old.firewall) {
      this.log.error("reload-refused", {
        reason: "state_dir and firewall cannot change without a restart",
      });
      return false;
    }
    this.#config = loaded.config;
    await this.#loadUsers(loaded);
    this.#context.maxAgeSeconds = loaded.config.maxPacketAgeMs / 1000;
    await this.#firewall.reconfigure(loaded.config.ports.map((p) => ({
      protocol: p.protocol,
      port: p.port,
      idleTimeoutMs: p.idleTimeoutMs,
    })));
    const wanted = new Set(loaded.config.interfaces);
    for (const c of this.#captures.filter((c) => !wanted.has(c.name))) c.capture.close();
    const have = new Set(this.#captures.filter((c) => !c.capture.closed).map((c) => c.name));
    this.#captures = this.#captures.filter((c) => !c.capture.closed);
    this.#openCaptures([...wanted].filter((name) => !have.has(name)));
    this.log.info("reload", { users: this.#users.size, grants: this.#grants.size });
    await this.#writeStatus();
    return true;
  }

  /** Stops serving: closes every grant, runs `on_close`, removes the firewall table. */
  stop(reason = "stop"): Promise<void> {
    this.#stopping ??= this.#tearDown(reason).finally(() => this.#resolveFinished());
    return this.#stopping;
  }

  async #tearDown(reason: string): Promise<void> {
    for (const [signal, handler] of this.#signals) Deno.removeSignalListener(signal, handler);
    if (this.#timer !== undefined) clearInterval(this.#timer);
    for (const c of this.#captures) c.capture.close();
    await Promise.allSettled(this.#captures.map((c) => c.done));
    await this.#pipeline.idle();
    await this.#grants.closeAll(reason);
    await this.#firewall.stop().catch((error) =>
      this.log.error("firewall-stop-failed", { reason: (error as Error).message })
    );
    for (const socket of this.#sockets.values()) socket.close();
    for (const user of this.#users.values()) user.keys.destroy();
    await this.#writeStatus();
    this.log.info("stop", { reason });
  }

  #installSignals(): void {
    const on = (signal: Deno.Signal, handler: () => void) => {
      Deno.addSignalListener(signal, handler);
      this.#signals.push([signal, handler]);
    };
    on("SIGTERM", () => void this.stop("SIGTERM"));
    on("SIGINT", () => void this.stop("SIGINT"));
    on("SIGHUP", () => void this.reload());
  }
}
