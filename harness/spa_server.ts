/**
 * Runs a real `spa-server` in a namespace for tests, the demo and the benchmarks: writes a config
 * and key files into a fresh folder, starts `deno run <the shipped server permission flags>
 * server.ts run`, and collects its log lines.
 */

import { Secret } from "../lib/config/secret.ts";
import { formatKeyFile } from "../lib/config/key_file.ts";
import { deriveServerKey } from "../lib/protocol/key_schedule.ts";
import { serverFlags } from "../lib/permissions.ts";
import type { Topology } from "./topology.ts";

/** The repository's root folder. */
export const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/** A user of a test server. */
export interface TestUser {
  uid: number;
  name: string;
  ports: readonly string[];
  sources?: readonly string[];
  requireSourceBinding?: boolean;
  /** Default: random. */
  secret?: Uint8Array;
  /** Default: random. */
  sequence?: number;
}

/** The user most namespace tests knock as: uid 1000, alice, allowed tcp/22. */
export const ALICE: Readonly<TestUser> = Object.freeze({
  uid: 1000,
  name: "alice",
  ports: Object.freeze(["tcp/22"]),
});

/** The `server_id` of a test server unless the setup names another. */
export const TEST_SERVER_ID = "spa-test";

/** Options of {@linkcode writeServerSetup}. */
export interface ServerSetupOptions {
  users: readonly Readonly<TestUser>[];
  /** The server's `server_id` (default {@linkcode TEST_SERVER_ID}). */
  serverId?: string;
  /**
   * Install each user's key as a server key provisioned for this server (`server_key`), as
   * `spa-client provision` writes it; default: the user's secret itself.
   */
  provisioned?: boolean;
  interfaces?: string[];
  firewall?: "nft" | "none";
  idleTimeout?: string;
  maxPacketAge?: string;
  resyncGrace?: string;
  /** `[ports."tcp/22"]` sections: key → TOML lines. */
  portSections?: Record<string, string[]>;
  /** More top-level TOML lines. */
  extra?: string[];
}

/** A written server setup. */
export interface ServerSetup {
  dir: string;
  configDir: string;
  configPath: string;
  stateDir: string;
  /** The server's `server_id`. */
  serverId: string;
  /** Users with their secret (the client's key) and the server's id (for `Knocker`). */
  users: (Required<Pick<TestUser, "uid" | "name" | "secret" | "sequence">> & {
    serverId: string;
  })[];
  /** Programs named by on_open/on_close, for the permission flags. */
  commands: string[];
}

/**
 * Writes `server.toml` and one key file per user (mode 0600) into a new temp folder.
 *
 * @example
 * ```ts ignore
 * const setup = await writeServerSetup({ users: [ALICE] });
 * ```
 */
export async function writeServerSetup(options: ServerSetupOptions): Promise<ServerSetup> {
  const dir = await Deno.makeTempDir({ prefix: "spa-test-" });
  const configDir = `${dir}/etc`;
  const stateDir = `${dir}/state`;
  await Deno.mkdir(`${configDir}/keys`, { recursive: true, mode: 0o700 });
  const serverId = options.serverId ?? TEST_SERVER_ID;
  const users = options.users.map((u) => ({
    uid: u.uid,
    name: u.name,
    secret: u.secret ?? crypto.getRandomValues(new Uint8Array(32)),
    sequence: u.sequence ?? (crypto.getRandomValues(new Uint32Array(1))[0]! || 1),
    serverId,
  }));
  const lines = [
    `server_id = ${JSON.stringify(serverId)}`,
    `interfaces = ${JSON.stringify(options.interfaces ?? ["eth0"])}`,
    `state_dir = ${JSON.stringify(stateDir)}`,
    `firewall = "${options.firewall ?? "nft"}"`,
    `idle_timeout = "${options.idleTimeout ?? "5m"}"`,
    `max_packet_age = "${options.maxPacketAge ?? "120s"}"`,
    `resync_grace = "${options.resyncGrace ?? "10m"}"`,
    ...(options.extra ?? []),
    "",
  ];
  for (const [i, u] of options.users.entries()) {
    const user = users[i]!;
    const keyPath = `${configDir}/keys/${u.name}.key`;
    const key = options.provisioned
      ? { secret: new Secret(deriveServerKey(user.secret, serverId)), serverId }
      : { secret: new Secret(user.secret) };
    await Deno.writeTextFile(
      keyPath,
      formatKeyFile({ uid: user.uid, sequence: user.sequence, ...key }),
      { mode: 0o600 },
    );
    await Deno.chmod(keyPath, 0o600);
    lines.push(
      "[[users]]",
      `uid = ${u.uid}`,
      `name = "${u.name}"`,
      `key_file = "keys/${u.name}.key"`,
      `ports = ${JSON.stringify(u.ports)}`,
      `sources = ${JSON.stringify(u.sources ?? ["0.0.0.0/0", "::/0"])}`,
      `require_source_binding = ${u.requireSourceBinding ?? false}`,
      "",
    );
  }
  const commands = new Set<string>();
  for (const [key, section] of Object.entries(options.portSections ?? {})) {
    lines.push(`[ports."${key}"]`, ...section, "");
    for (const line of section) {
      const match = /^on_(open|close)\s*=\s*(\[.*\])/.exec(line);
      if (match) commands.add((JSON.parse(match[2]!) as string[])[0]!);
    }
  }
  const configPath = `${configDir}/server.toml`;
  await Deno.writeTextFile(configPath, lines.join("\n"));
  return { dir, configDir, configPath, stateDir, serverId, users, commands: [...commands] };
}

/** The `deno run` argv that starts `spa-server` for a setup, with the shipped permission flags. */
export function serverArgv(setup: ServerSetup, ...args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    ...serverFlags({
      configDir: setup.configDir,
      stateDir: setup.stateDir,
      commands: setup.commands,
    }),
    `${ROOT}/server.ts`,
    ...args,
  ];
}

/** A running test server. */
export class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly lines: string[] = [];
  readonly #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<Deno.CommandStatus>;

  constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.exited = child.status;
    void this.#collect();
  }

  async #collect(): Promise<void> {
    const decoder = new TextDecoderStream();
    let buffer = "";
    for await (const chunk of this.child.stderr.pipeThrough(decoder)) {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        this.lines.push(line);
        if (Deno.env.get("SPA_TEST_VERBOSE")) console.error(`[server] ${line}`);
        for (const w of [...this.#waiters]) {
          if (w.pattern.test(line)) {
            this.#waiters.splice(this.#waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  }

  /**
   * Resolves with the first log line matching `pattern`: among the lines seen so far and the
   * future ones, or, with `onlyNew`, among future lines only.
   */
  waitFor(pattern: RegExp, timeoutMs = 10_000, onlyNew = false): Promise<string> {
    const seen = onlyNew ? undefined : this.lines.find((l) => pattern.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `Cannot find log line ${pattern} within ${timeoutMs} ms; log:\n${
              this.lines.join("\n")
            }`,
          ),
        );
      }, timeoutMs);
      this.#waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** Sends a signal to the server (not to the `ip netns exec` wrapper's other children). */
  kill(signal: Deno.Signal): void {
    this.child.kill(signal);
  }

  /** Sends `signal` unless the server has exited already, and waits for it to exit. */
  async stop(signal: Deno.Signal): Promise<Deno.CommandStatus> {
    try {
      this.kill(signal);
    } catch { /* exited */ }
    return await this.exited;
  }
}

/**
 * Starts `spa-server run` for `setup` inside the topology's `server` host and waits for its
 * `start` line.
 *
 * @example
 * ```ts ignore
 * const server = await startServer(topo, setup);
 * ```
 */
export async function startServer(
  topo: Topology,
  setup: ServerSetup,
  options: StartOptions = {},
): Promise<ServerProcess> {
  // `ip netns exec` execs the program, so the child's pid is the server's and signals reach it.
  const child = topo.spawn(
    options.host ?? "server",
    [
      ...(options.argvPrefix ?? []),
      ...withEntry(serverArgv(setup, "run", "--config", setup.configPath), options.entry),
    ],
    { stdout: "null", ...(options.env ? { env: options.env } : {}) },
  );
  const server = new ServerProcess(child);
  await Promise.race([
    server.waitFor(/ start /, options.timeoutMs ?? 20_000),
    server.exited.then((s) => {
      throw new Error(
        `spa-server exited with ${s.code} before starting:\n${server.lines.join("\n")}`,
      );
    }),
  ]);
  return server;
}

/**
 * How many grants the daemon's nft table (`inet spa` in `host`) holds now: the elements of its
 * sets.
 *
 * @example
 * ```ts ignore
 * equal(await grantCount(topo), 1);
 * ```
 */
export async function grantCount(topo: Topology, host = "server"): Promise<number> {
  const out = await topo.execOk(host, ["nft", "-j", "list", "table", "inet", "spa"]);
  let n = 0;
  for (const item of JSON.parse(out).nftables as { set?: { elem?: unknown[] } }[]) {
    n += item.set?.elem?.length ?? 0;
  }
  return n;
}

/** How {@linkcode startServer} starts the daemon. */
/**
 * `argv` (from {@linkcode serverArgv}) with `entry`, e.g. a `deno bundle` build, in place of
 * server.ts; `argv` itself when `entry` is undefined.
 *
 * @example
 * ```ts ignore
 * const argv = withEntry(serverArgv(setup, "run"), "/tmp/spa-server.js");
 * ```
 */
export function withEntry(argv: readonly string[], entry: string | undefined): string[] {
  if (entry === undefined) return [...argv];
  const at = argv.indexOf(`${ROOT}/server.ts`);
  if (at < 0) throw new Error(`Cannot run spa-server from ${entry}: no server.ts in its argv`);
  return argv.with(at, entry);
}

export interface StartOptions {
  /** The host (role) to run it in; `server` by default. */
  host?: string;
  /** Added to its environment (`ip netns exec` keeps it), e.g. a PATH with an nft wrapper. */
  env?: Record<string, string>;
  /** Programs the daemon runs under, e.g. a loader preloading libfaketime. */
  argvPrefix?: readonly string[];
  /** The program file instead of `server.ts`, e.g. a `deno bundle` build of it (benchmarks). */
  entry?: string;
  /** How long to wait for its `start` line; 20 s by default. */
  timeoutMs?: number;
}
