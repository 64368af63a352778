/**
 * The `nft` backend: owns one nftables table (default `inet spa`) and changes it by executing
 * `nft` with a script as one argument (one transaction, as `nft -f`), reading it back with
 * `nft -j list table`. The scripts, the rules and how the table composes with an existing ruleset
 * are described in `nft_script.ts`.
 *
 * Kernel-side expiry does the closing: a grant is a set element with a timeout, refreshed by the
 * traffic it lets through, so a killed daemon leaves nothing open past the idle timeout. `start`
 * recreates the table (dropping stale grants); `stop` deletes it, or with `keepTableOnStop` (what
 * spa-server uses) empties its sets and keeps its drop rules, so the ports stay closed.
 *
 * @module
 */

import { findPort, formatPortSpec } from "../protocol/port.ts";
import {
  checkPorts,
  checkTarget,
  checkTimeout,
  type FirewallBackend,
  FirewallError,
  type Grant,
  type GrantTarget,
  type LiveGrant,
  type ProtectedPort,
} from "./backend.ts";
import {
  commandRunner,
  NFT_TIMEOUT_MS,
  type NftResult,
  type NftRunner,
  NftTimeoutError,
} from "./nft_runner.ts";
import {
  checkTableName,
  closeScript,
  openScript,
  parseListing,
  type ProtectedResponse,
  reconfigureScript,
  startScript,
  tableProblem,
} from "./nft_script.ts";
import { NftSession, sessionRunner } from "./nft_session.ts";

export {
  commandRunner,
  NFT_TIMEOUT_MS,
  type NftResult,
  type NftRunLimits,
  type NftRunner,
  NftTimeoutError,
} from "./nft_runner.ts";

/** Options of {@linkcode NftBackend}. */
export interface NftBackendOptions {
  /** Table name in family inet (default `spa`). */
  table?: string;
  /**
   * The command prefix that runs nft (default `["nft"]`); e.g.
   * `["ip", "netns", "exec", "NS", "nft"]` to drive the table of another network namespace.
   */
  command?: readonly string[];
  /** Replaces the process runner entirely (unit tests). */
  run?: NftRunner;
  /**
   * Run grants and listings through one long-lived `nft -j -i` (default true; see
   * `nft_session.ts`) rather than one process per call. Start, reconfigure and stop always
   * run a process of their own.
   */
  session?: boolean;
  /** Leave the table (its drop rules, no grants) in place at `stop`, so ports stay closed. */
  keepTableOnStop?: boolean;
  /** Time limit of each nft run (default {@linkcode NFT_TIMEOUT_MS}); nft is killed past it. */
  timeoutMs?: number;
  /** How protected ports answer packets without a grant (default `"drop"`). */
  response?: ProtectedResponse;
}

/**
 * The nftables backend.
 *
 * @example
 * ```ts
 * import { NftBackend } from "./nft.ts";
 * // Changes the host's ruleset (root): type-checked by `deno test --doc`, not run.
 * async function openOnce(): Promise<void> {
 *   const fw = new NftBackend({ table: "spa" });
 *   await fw.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 *   await fw.open({ address: "203.0.113.7", protocol: "tcp", port: 22, timeoutMs: 300_000 });
 *   console.log(await fw.list());
 *   await fw.stop();
 * }
 * ```
 */
export class NftBackend implements FirewallBackend {
  readonly kind = "nft" as const;
  /** The table name (family inet). */
  readonly table: string;
  readonly #run: NftRunner;
  /** The runner of opens, closes and listings: the long-lived session unless replaced. */
  readonly #fast: NftRunner;
  readonly #session: NftSession | undefined;
  readonly #keepTableOnStop: boolean;
  readonly #command: readonly string[];
  #timeoutMs: number;
  #response: ProtectedResponse;
  #ports: readonly ProtectedPort[] | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** Bumped by {@linkcode cancelPending}: tasks queued under an older epoch are refused. */
  #epoch = 0;
  #abort = new AbortController();

  constructor(options: NftBackendOptions = {}) {
    this.table = options.table ?? "spa";
    checkTableName(this.table);
    this.#command = options.command ?? ["nft"];
    this.#run = options.run ?? commandRunner(this.#command);
    this.#session = options.run === undefined && options.session !== false
      ? new NftSession(this.#command)
      : undefined;
    this.#fast = this.#session === undefined ? this.#run : sessionRunner(this.#session, this.#run);
    this.#keepTableOnStop = options.keepTableOnStop ?? false;
    this.#timeoutMs = options.timeoutMs ?? NFT_TIMEOUT_MS;
    checkTimeout(this.#timeoutMs);
    this.#response = options.response ?? "drop";
  }

  /** The protected ports of the running table, or `undefined` before `start`/after `stop`. */
  get ports(): readonly ProtectedPort[] | undefined {
    return this.#ports;
  }

  /** How many `nft -j -i` processes the backend has started (0 without a session). */
  get sessionSpawns(): number {
    return this.#session?.spawns ?? 0;
  }

  /**
   * Kills the nft run in progress and refuses every call queued so far (they reject with
   * {@linkcode NftTimeoutError}); calls made afterwards run normally. For a stopping daemon, so
   * that its last `stop` waits for no hung nft but its own (bounded) run.
   */
  cancelPending(): void {
    this.#epoch++;
    this.#abort.abort();
    this.#abort = new AbortController();
  }

  /**
   * Starts `nft monitor` (with the backend's command prefix): one line per change of any table,
   * for {@linkcode TableWatch}-like callers that react to changes made from outside.
   */
  spawnMonitor(): Deno.ChildProcess {
    const [program, ...prefix] = this.#command;
    return new Deno.Command(program!, {
      args: [...prefix, "monitor"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  }

  /**
   * What is wrong with the table in the kernel, compared with what {@linkcode start} made, or
   * `undefined` when nothing is ("missing", or a description of the difference).
   *
   * @throws {FirewallError} When nft cannot list it (fails, hangs).
   */
  verify(): Promise<string | undefined> {
    return this.#serial(async () => {
      const ports = this.#ports;
      if (ports === undefined) return undefined;
      const result = await this.#listTable("check the firewall table");
      if (result.code !== 0) {
        if (isMissingTable(result.stderr)) return "the table is missing";
        throw nftError("check the firewall table", result);
      }
      return tableProblem(result.stdout, this.table, ports, this.#response);
    });
  }

  /**
   * Recreates the table for the current ports with the grants `grants()` returns in it, in one
   * transaction (after the table was deleted or changed from outside), and returns them.
   * `grants` is called when the rebuild's turn comes in the queue of nft runs, not before, so a
   * grant closed by a run queued ahead of it (a revocation) is not written back.
   */
  restore(grants: () => readonly Grant[]): Promise<Grant[]> {
    return this.#serial(async () => {
      const ports = this.#ports;
      if (ports === undefined) {
        throw new FirewallError("Cannot restore the firewall: it was not started");
      }
      const restored = grants().filter((g) => findPort(ports, g) !== undefined);
      const elements = restored.map((g) => {
        checkTimeout(g.timeoutMs);
        return openScript(this.table, checkTarget(g), g.timeoutMs, true);
      });
      await this.#apply(
        "restore the firewall",
        startScript(this.table, ports, this.#response) + elements.join(""),
        [],
        this.#fast,
      );
      return restored;
    });
  }

  /** Recreates the table for `ports`; every stale grant is gone afterwards. */
  start(ports: readonly ProtectedPort[]): Promise<void> {
    return this.#serial(async () => {
      checkPorts(ports);
      await this.#apply("start the firewall", startScript(this.table, ports, this.#response));
      this.#ports = [...ports];
    });
  }

  /**
   * Replaces the rules for a new list of ports (and, optionally, a new response and time limit);
   * live grants stay.
   */
  reconfigure(
    ports: readonly ProtectedPort[],
    options: { response?: ProtectedResponse; timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#serial(async () => {
      checkPorts(ports);
      if (options.timeoutMs !== undefined) checkTimeout(options.timeoutMs);
      if (this.#ports === undefined) {
        throw new FirewallError("Cannot reconfigure the firewall: it was not started");
      }
      const response = options.response ?? this.#response;
      await this.#apply(
        "reconfigure the firewall",
        reconfigureScript(this.table, ports, response),
      );
      this.#ports = [...ports];
      this.#response = response;
      this.#timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    });
  }

  /** Opens a grant, or refreshes an open one to a full new timeout, atomically. */
  open(grant: Grant): Promise<void> {
    return this.#serial(async () => {
      const target = checkTarget(grant);
      checkTimeout(grant.timeoutMs);
      if (this.#ports === undefined) {
        throw new FirewallError("Cannot open grant: the firewall was not started");
      }
      if (findPort(this.#ports, target) === undefined) {
        throw new RangeError(
          `Cannot open grant: ${formatPortSpec(target)} is not a protected port`,
        );
      }
      await this.#apply(
        "open grant",
        openScript(this.table, target, grant.timeoutMs, grant.fresh === true),
        [],
        this.#fast,
      );
    });
  }

  /** Closes a grant; no error when it is not open. */
  close(target: GrantTarget): Promise<void> {
    return this.#serial(async () => {
      const checked = checkTarget(target);
      await this.#apply("close grant", closeScript(this.table, checked), [], this.#fast);
    });
  }

  /** Runs `nft -j list table inet <table>` (the caller holds the serial queue). */
  #listTable(what: string): Promise<NftResult> {
    return this.#exec(what, this.#fast, ["-j", "list", "table", "inet", this.table]);
  }

  /**
   * The grants open now, read from the kernel (works in any process, started or not; an absent
   * table has no grants). Times have a resolution of one second (nft's JSON output).
   */
  list(): Promise<LiveGrant[]> {
    return this.#serial(async () => {
      const result = await this.#listTable("list grants");
      if (result.code !== 0) {
        // A started table that is gone was removed from outside: that is not "no grants" (the
        // daemon must not close its grants for it, but restore them).
        if (isMissingTable(result.stderr) && this.#ports === undefined) return [];
        throw nftError("list grants", result);
      }
      try {
        return parseListing(result.stdout);
      } catch (error) {
        throw new FirewallError("Cannot list grants: nft printed no valid JSON", { cause: error });
      }
    });
  }

  /** Deletes the table (or, with `keepTableOnStop`, only empties its sets). */
  stop(): Promise<void> {
    return this.#serial(async () => {
      this.#ports = undefined;
      const script = this.#keepTableOnStop
        ? `flush set inet ${this.table} grants4\nflush set inet ${this.table} grants6\n`
        : `delete table inet ${this.table}\n`;
      this.#session?.close();
      const result = await this.#exec("stop the firewall", this.#run, [], script);
      if (result.code !== 0 && !isMissingTable(result.stderr)) {
        throw nftError("stop the firewall", result);
      }
    });
  }

  async #apply(
    what: string,
    script: string,
    flags: readonly string[] = [],
    run: NftRunner = this.#run,
  ): Promise<void> {
    const result = await this.#exec(what, run, [...flags], script);
    if (result.code !== 0) throw nftError(what, result);
  }

  async #exec(
    what: string,
    run: NftRunner,
    args: readonly string[],
    stdin?: string,
  ): Promise<NftResult> {
    try {
      return await run(args, stdin, {
        timeoutMs: this.#timeoutMs,
        signal: this.#abort.signal,
      });
    } catch (error) {
      if (error instanceof NftTimeoutError) {
        throw new NftTimeoutError(error.reason, what, { cause: error });
      }
      if (error instanceof FirewallError) throw error;
      if (error instanceof Deno.errors.NotFound) {
        throw new FirewallError(
          "Cannot run nft: it is not installed (Debian package nftables)",
          { cause: error },
        );
      }
      if (error instanceof Deno.errors.NotCapable) throw error;
      throw new FirewallError(`Cannot run nft: ${(error as Error).message}`, { cause: error });
    }
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const epoch = this.#epoch;
    const guarded = () => {
      if (epoch !== this.#epoch) {
        return Promise.reject(
          new NftTimeoutError("nft was not run: the firewall is stopping"),
        );
      }
      return task();
    };
    const next = this.#queue.then(guarded, guarded);
    this.#queue = next.catch(() => {});
    return next;
  }
}

function isMissingTable(stderr: string): boolean {
  return /No such file or directory/.test(stderr);
}

function nftError(what: string, result: NftResult): FirewallError {
  const detail = result.stderr.split("\n").map((line) => line.trim()).find((line) => line !== "");
  return new FirewallError(
    `Cannot ${what}: nft exited with code ${result.code}${detail ? `: ${detail}` : ""}`,
  );
}
