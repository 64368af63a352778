/**
 * spa in the bench: `spa-server run` with the shipped permission flags in the server namespace
 * (nft firewall, one user allowed tcp/22, a 2 s idle timeout), and `spa-client` with the shipped
 * flags in the client namespace.
 *
 * Between knocks the grant is closed by flushing the table's IPv4 set (`nft flush set inet spa
 * grants4`), and the bench waits for the daemon's own `close` line (its once-a-second poll of the
 * set), so every knock finds the port closed and the daemon's book empty, as a first knock would.
 *
 * @module
 */

import { readStatus } from "../../lib/server/status.ts";
import { type ClientHome, makeClientHome } from "../../tests/e2e/_client_home.ts";
import { cacheDir, clientArgv } from "../../tests/client/_helpers.ts";
import {
  serverArgv,
  ServerProcess,
  type ServerSetup,
  withEntry,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import type { Topology } from "../../harness/topology.ts";
import type { Contender, DropStats } from "./contender.ts";
import type { ProbeRequest } from "./prober.ts";
import { stopChild } from "./proc.ts";

/** The UID of the bench's spa user (forged-trailer floods carry it). */
export const SPA_UID = 1000;
const USER = "alice";
const HOST = "bench";

/** Options of {@linkcode startSpa}. */
export interface SpaOptions {
  /** Write a V8 CPU profile of the daemon into this folder (`deno run --cpu-prof`). */
  cpuProfileDir?: string;
  /** More top-level lines of `server.toml` (e.g. `capture_buffer = "8MiB"`), for experiments. */
  extraConfig?: string[];
  /** More `deno run` flags for the daemon (e.g. `--v8-flags=...`), for experiments. */
  runtimeFlags?: string[];
  /**
   * The daemon's program: a `deno bundle` build of server.ts (what `deno task compile` embeds);
   * default `server.ts` itself, as the tests run it.
   */
  entry?: string;
  /** Where the daemon's standard output goes (default nowhere; `--trace-gc` and the like print there). */
  stdout?: "null" | "inherit";
}

/**
 * Starts spa-server in the `server` host and prepares a client home for the `client` host.
 *
 * @example
 * ```ts ignore
 * await using spa = await startSpa(topo, "10.77.0.1");
 * ```
 */
export async function startSpa(
  topo: Topology,
  serverAddress: string,
  options: SpaOptions = {},
): Promise<SpaContender> {
  const setup = await writeServerSetup({
    users: [{ uid: SPA_UID, name: USER, ports: ["tcp/22"] }],
    idleTimeout: "2s",
    extra: options.extraConfig ?? [],
  });
  const argv = serverArgv(setup, "run", "--config", setup.configPath);
  const flags = [...(options.runtimeFlags ?? [])];
  if (options.cpuProfileDir !== undefined) {
    flags.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`);
  }
  argv.splice(2, 0, ...flags);
  const child = topo.spawn("server", withEntry(argv, options.entry), {
    stdout: options.stdout ?? "null",
  });
  const server = new ServerProcess(child);
  try {
    await Promise.race([
      server.waitFor(/ start /, 20_000),
      server.exited.then((s) => {
        throw new Error(`spa-server exited with ${s.code} at start:\n${server.lines.join("\n")}`);
      }),
    ]);
    const home = await makeClientHome(setup, [
      { name: HOST, address: serverAddress, user: USER, port: 22 },
    ]);
    const env = { HOME: home.dir, DENO_DIR: await cacheDir() };
    return new SpaContender(topo, setup, server, home, env);
  } catch (error) {
    child.kill("SIGKILL");
    await Deno.remove(setup.dir, { recursive: true });
    throw error;
  }
}

/**
 * The `deno run` argv of spa-client as shipped.
 *
 * @example
 * ```ts
 * import { spaClientArgv } from "./spa_side.ts";
 * if (!spaClientArgv(["--version"]).includes("--version")) throw new Error("unexpected");
 * ```
 */
export function spaClientArgv(args: readonly string[]): string[] {
  return [Deno.execPath(), ...clientArgv(args)];
}

/** spa under test. */
export class SpaContender implements Contender {
  readonly name = "spa" as const;
  readonly variants = ["syn", "udp"] as const;
  readonly #topo: Topology;
  readonly #setup: ServerSetup;
  readonly #server: ServerProcess;
  readonly #home: ClientHome;
  readonly #env: Record<string, string>;

  constructor(
    topo: Topology,
    setup: ServerSetup,
    server: ServerProcess,
    home: ClientHome,
    env: Record<string, string>,
  ) {
    this.#topo = topo;
    this.#setup = setup;
    this.#server = server;
    this.#home = home;
    this.#env = env;
  }

  get pid(): number {
    return this.#server.child.pid;
  }

  /** The daemon's log lines so far. */
  get lines(): readonly string[] {
    return this.#server.lines;
  }

  source(_n: number): string | undefined {
    // spa opens the port to the knock's own source address: the client's.
    return undefined;
  }

  knock(variant: string, openTimeoutMs: number, _source: string | undefined): ProbeRequest {
    return {
      op: "knock",
      argv: spaClientArgv(["--host", HOST, "--transport", variant, "--json"]),
      env: this.#env,
      openTimeoutMs,
      clientTimeoutMs: 15_000,
    };
  }

  async closeGrant(opened: boolean): Promise<void> {
    // The daemon polls its set once a second (TICK_MS) and logs `close` for a grant gone.
    const closed = this.#server.waitFor(/ close /, opened ? 5_000 : 1_500, true);
    await this.#topo.execOk("server", ["nft", "flush", "set", "inet", "spa", "grants4"]);
    try {
      await closed;
    } catch (error) {
      if (opened) throw error;
      // No grant was open: nothing for the daemon to notice.
    }
  }

  async drops(): Promise<DropStats | undefined> {
    // SIGHUP makes the daemon reload (keeping all state) and rewrite its status file at once.
    const reloaded = this.#server.waitFor(/ reload /, 10_000, true);
    this.#server.kill("SIGHUP");
    await reloaded;
    const status = await readStatus(this.#setup.stateDir);
    const capture = status?.capture[0];
    return capture === undefined
      ? undefined
      : { received: capture.received, dropped: capture.dropped };
  }

  clientFailure(code: number | null, stdout: string, stderr: string): string | undefined {
    if (code !== 0) return `spa-client exit ${code}: ${stderr.trim().split("\n").at(-1)}`;
    try {
      if (JSON.parse(stdout).ok !== true) return `spa-client said ${stdout.trim()}`;
    } catch {
      return `spa-client printed ${JSON.stringify(stdout)}`;
    }
    return undefined;
  }

  attempts(stdout: string): number | undefined {
    try {
      return JSON.parse(stdout).attempts as number;
    } catch {
      return undefined;
    }
  }

  /** Stops the daemon (SIGTERM) and removes its files. */
  async [Symbol.asyncDispose](): Promise<void> {
    await stopChild(this.#server.child, "SIGTERM", 10_000);
    // The daemon leaves its drop rules in place at exit; the next contender brings its own.
    await this.#topo.exec("server", ["nft", "delete", "table", "inet", "spa"]);
    await Deno.remove(this.#setup.dir, { recursive: true });
    await this.#home[Symbol.asyncDispose]();
  }
}
