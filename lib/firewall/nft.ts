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

import {
  checkPorts,
  checkTarget,
  checkTimeout,
  findPort,
  type FirewallBackend,
  FirewallError,
  type Grant,
  type GrantTarget,
  type LiveGrant,
  type ProtectedPort,
} from "./backend.ts";
import {
  checkTableName,
  closeScript,
  openScript,
  parseListing,
  reconfigureScript,
  startScript,
} from "./nft_script.ts";

/** Output of one `nft` run. */
export interface NftResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `nft` with `args` and, optionally, a script that nft applies as one transaction;
 * replaceable for tests.
 */
export type NftRunner = (args: readonly string[], script?: string) => Promise<NftResult>;

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
  /** Leave the table (its drop rules, no grants) in place at `stop`, so ports stay closed. */
  keepTableOnStop?: boolean;
}

/**
 * The nftables backend.
 *
 * @example
 * ```ts ignore
 * import { NftBackend } from "./nft.ts";
 * const fw = new NftBackend({ table: "spa" });
 * await fw.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 * await fw.open({ address: "203.0.113.7", protocol: "tcp", port: 22, timeoutMs: 300_000 });
 * console.log(await fw.list());
 * await fw.stop();
 * ```
 */
export class NftBackend implements FirewallBackend {
  readonly kind = "nft" as const;
  /** The table name (family inet). */
  readonly table: string;
  readonly #run: NftRunner;
  readonly #keepTableOnStop: boolean;
  #ports: readonly ProtectedPort[] | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: NftBackendOptions = {}) {
    this.table = options.table ?? "spa";
    checkTableName(this.table);
    this.#run = options.run ?? commandRunner(options.command ?? ["nft"]);
    this.#keepTableOnStop = options.keepTableOnStop ?? false;
  }

  /** Recreates the table for `ports`; every stale grant is gone afterwards. */
  start(ports: readonly ProtectedPort[]): Promise<void> {
    return this.#serial(async () => {
      checkPorts(ports);
      await this.#apply("start the firewall", startScript(this.table, ports));
      this.#ports = [...ports];
    });
  }

  /** Replaces the rules for a new list of ports; live grants stay. */
  reconfigure(ports: readonly ProtectedPort[]): Promise<void> {
    return this.#serial(async () => {
      checkPorts(ports);
      if (this.#ports === undefined) {
        throw new FirewallError("Cannot reconfigure the firewall: it was not started");
      }
      await this.#apply("reconfigure the firewall", reconfigureScript(this.table, ports));
      this.#ports = [...ports];
    });
  }

  /**
   * Checks, without changing anything (`nft -c`), that the kernel and nft accept the table for
   * `ports`; for `check-config`.
   */
  check(ports: readonly ProtectedPort[]): Promise<void> {
    return this.#serial(async () => {
      checkPorts(ports);
      await this.#apply("check the firewall rules", startScript(this.table, ports), ["-c"]);
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
          `Cannot open grant: ${target.protocol}/${target.port} is not a protected port`,
        );
      }
      await this.#apply(
        "open grant",
        openScript(this.table, target, grant.timeoutMs, grant.fresh === true),
      );
    });
  }

  /** Closes a grant; no error when it is not open. */
  close(target: GrantTarget): Promise<void> {
    return this.#serial(async () => {
      const checked = checkTarget(target);
      await this.#apply("close grant", closeScript(this.table, checked));
    });
  }

  /**
   * The grants open now, read from the kernel (works in any process, started or not; an absent
   * table has no grants). Times have a resolution of one second (nft's JSON output).
   */
  list(): Promise<LiveGrant[]> {
    return this.#serial(async () => {
      const result = await this.#exec(["-j", "list", "table", "inet", this.table]);
      if (result.code !== 0) {
        if (isMissingTable(result.stderr)) return [];
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
      const result = await this.#exec([], script);
      if (result.code !== 0 && !isMissingTable(result.stderr)) {
        throw nftError("stop the firewall", result);
      }
    });
  }

  async #apply(what: string, script: string, flags: readonly string[] = []): Promise<void> {
    const result = await this.#exec([...flags], script);
    if (result.code !== 0) throw nftError(what, result);
  }

  async #exec(args: readonly string[], stdin?: string): Promise<NftResult> {
    try {
      return await this.#run(args, stdin);
    } catch (error) {
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
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => {});
    return next;
  }
}

/**
 * A runner that executes `command` (e.g. `["nft"]`) with the arguments and the script.
 *
 * @example
 * ```ts ignore
 * import { commandRunner } from "./nft.ts";
 * const result = await commandRunner(["nft"])(["--version"]);
 * console.log(result.stdout);
 * ```
 */
export function commandRunner(command: readonly string[]): NftRunner {
  const [program, ...prefix] = command;
  if (program === undefined) throw new TypeError("Cannot run nft: the command is empty");
  // The script goes to nft as one argument, not on stdin: nft applies a multi-line argument as one
  // transaction, just like `nft -f`, and `Deno.Command.output()` without a stdin pipe avoids
  // Deno 2.9's native-memory leak in spawn() + piped stdin (about 100 kB per call,
  // denoland/deno#24674), which a long-running daemon calling nft would accumulate.
  return async (args, script) => {
    const out = await new Deno.Command(program, {
      args: [...prefix, ...args, ...(script === undefined ? [] : [script])],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
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
