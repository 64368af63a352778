/**
 * fwknop in the bench: Debian's `fwknopd` in the foreground in the server namespace, with its own
 * config, access, digest-cache, pid and run files in a temp folder (nothing under /etc is read or
 * written), and the `fwknop` client in the client namespace with an empty rc file and a temp HOME.
 *
 * Configuration: HMAC + Rijndael keys from `fwknop --key-gen`, `SOURCE ANY`, `OPEN_PORTS tcp/22`,
 * `PCAP_INTF eth0`, every other setting at its default (among them `PCAP_FILTER udp port 62201`,
 * `PCAP_DISPATCH_COUNT 100`, `PCAP_LOOP_SLEEP 100000` µs, `FW_ACCESS_TIMEOUT 30`). fwknopd adds
 * ACCEPT rules to its own `FWKNOP_INPUT` chain, jumped to first from INPUT; the bench adds the
 * default deny it relies on (`iptables -A INPUT -p tcp --dport 22 -j DROP`). Between knocks the
 * bench empties `FWKNOP_INPUT` (`iptables -F FWKNOP_INPUT`) instead of waiting the 30 s timeout.
 *
 * @module
 */

import type { Topology } from "../../harness/topology.ts";
import { ServerProcess } from "../../harness/spa_server.ts";
import type { Contender, DropStats } from "./contender.ts";
import type { ProbeRequest } from "./prober.ts";
import { stopChild } from "./proc.ts";

/** fwknop's default SPA port. */
export const FWKNOP_PORT = 62201;
const DENY = ["-p", "tcp", "--dport", "22", "-j", "DROP"];

/** The keys `fwknop --key-gen` made. */
export interface FwknopKeys {
  rijndael: string;
  hmac: string;
}

/**
 * Generates keys with `fwknop --key-gen` (HOME is a temp folder: the client writes an rc file
 * there).
 *
 * @example
 * ```ts ignore
 * const keys = await fwknopKeyGen(dir);
 * ```
 */
export async function fwknopKeyGen(home: string): Promise<FwknopKeys> {
  const out = await new Deno.Command("fwknop", {
    args: ["--key-gen"],
    env: { HOME: home },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rijndael = /^KEY_BASE64:\s*(\S+)/m.exec(text)?.[1];
  const hmac = /^HMAC_KEY_BASE64:\s*(\S+)/m.exec(text)?.[1];
  if (!out.success || rijndael === undefined || hmac === undefined) {
    throw new Error(`Cannot generate fwknop keys: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { rijndael, hmac };
}

/**
 * Starts fwknopd in the `server` host (after adding the deny rule) and prepares the client. Knock
 * `n` asks fwknopd to open the port to `clientSources[n % length]` (`fwknop -a`), addresses the
 * client host holds: a knock fwknopd honours late (from its capture backlog) then opens the port to
 * another address than the next knocks', and never passes for one of them.
 *
 * @example
 * ```ts ignore
 * await using fwknop = await startFwknop(topo, "10.77.0.1", ["10.77.0.100", "10.77.0.101"]);
 * ```
 */
export async function startFwknop(
  topo: Topology,
  serverAddress: string,
  clientSources: readonly string[],
): Promise<FwknopContender> {
  const dir = await Deno.makeTempDir({ prefix: "spa-bench-fwknop-" });
  try {
    const home = `${dir}/home`;
    await Deno.mkdir(home, { mode: 0o700 });
    const keys = await fwknopKeyGen(home);
    await Deno.writeTextFile(`${dir}/fwknopd.conf`, "PCAP_INTF eth0;\n", { mode: 0o600 });
    await Deno.writeTextFile(
      `${dir}/access.conf`,
      [
        "SOURCE ANY",
        "OPEN_PORTS tcp/22",
        `KEY_BASE64 ${keys.rijndael}`,
        `HMAC_KEY_BASE64 ${keys.hmac}`,
        "",
      ].join("\n"),
      { mode: 0o600 },
    );
    const rc = `${home}/fwknoprc`;
    await Deno.writeTextFile(rc, "", { mode: 0o600 });
    await Deno.mkdir(`${dir}/run`);
    await topo.execOk("server", ["iptables", "-A", "INPUT", ...DENY]);
    const child = topo.spawn("server", [
      "fwknopd",
      "-f",
      "-c",
      `${dir}/fwknopd.conf`,
      "-a",
      `${dir}/access.conf`,
      "-d",
      `${dir}/digest.cache`,
      "-p",
      `${dir}/fwknopd.pid`,
      "-r",
      `${dir}/run`,
    ], { stdout: "null" });
    const log = new ServerProcess(child); // fwknopd -f logs to stderr
    try {
      await log.waitFor(/Starting fwknopd main event loop|Sniffing interface/, 10_000);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    const argv = [
      "fwknop",
      "-A",
      "tcp/22",
      "-D",
      serverAddress,
      "--use-hmac",
      "--key-base64-rijndael",
      keys.rijndael,
      "--key-base64-hmac",
      keys.hmac,
      "--rc-file",
      rc,
      "--no-save-args",
    ];
    return new FwknopContender(topo, dir, child, log, argv, { HOME: home }, clientSources);
  } catch (error) {
    await topo.exec("server", ["iptables", "-D", "INPUT", ...DENY]);
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/**
 * The version line of fwknopd, or `undefined` when it is not installed.
 *
 * @example
 * ```ts ignore
 * console.log(await fwknopVersion()); // "fwknopd 2.6.10"
 * ```
 */
export async function fwknopVersion(): Promise<string | undefined> {
  try {
    const out = await new Deno.Command("fwknopd", {
      args: ["--version"],
      stdout: "piped",
      stderr: "null",
    }).output();
    // "fwknopd server 2.6.10, compiled for firewall bin: /usr/sbin/iptables" → "fwknopd 2.6.10"
    const line = new TextDecoder().decode(out.stdout).trim().split("\n")[0] ?? "";
    return line.replace(/^fwknopd server (\S+?),.*$/, "fwknopd $1");
  } catch {
    return undefined;
  }
}

/** fwknop under test. */
export class FwknopContender implements Contender {
  readonly name = "fwknop" as const;
  readonly variants = ["udp"] as const;
  readonly #topo: Topology;
  readonly #dir: string;
  readonly #child: Deno.ChildProcess;
  readonly #log: ServerProcess;
  readonly #argv: string[];
  readonly #env: Record<string, string>;
  readonly #sources: readonly string[];

  constructor(
    topo: Topology,
    dir: string,
    child: Deno.ChildProcess,
    log: ServerProcess,
    argv: string[],
    env: Record<string, string>,
    sources: readonly string[],
  ) {
    this.#topo = topo;
    this.#dir = dir;
    this.#child = child;
    this.#log = log;
    this.#argv = argv;
    this.#env = env;
    this.#sources = sources;
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** fwknopd's log lines so far. */
  get lines(): readonly string[] {
    return this.#log.lines;
  }

  source(n: number): string | undefined {
    return this.#sources[n % this.#sources.length];
  }

  knock(_variant: string, openTimeoutMs: number, source: string | undefined): ProbeRequest {
    if (source === undefined) throw new TypeError("Cannot knock: fwknop needs an address to allow");
    return {
      op: "knock",
      argv: [...this.#argv, "-a", source],
      env: this.#env,
      openTimeoutMs,
      clientTimeoutMs: 15_000,
      source,
    };
  }

  async closeGrant(_opened: boolean): Promise<void> {
    await this.#topo.execOk("server", ["iptables", "-F", "FWKNOP_INPUT"]);
  }

  drops(): Promise<DropStats | undefined> {
    // fwknopd reports no capture statistics (no status command, no counters in its log).
    return Promise.resolve(undefined);
  }

  clientFailure(code: number | null, _stdout: string, stderr: string): string | undefined {
    return code === 0 ? undefined : `fwknop exit ${code}: ${stderr.trim().split("\n").at(-1)}`;
  }

  attempts(_stdout: string): number | undefined {
    return undefined;
  }

  /** Stops fwknopd (it flushes its chains at exit), removes the deny rule and the files. */
  async [Symbol.asyncDispose](): Promise<void> {
    await stopChild(this.#child, "SIGTERM", 10_000);
    await this.#topo.exec("server", ["iptables", "-D", "INPUT", ...DENY]);
    await this.#topo.exec("server", ["iptables", "-F", "FWKNOP_INPUT"]);
    await this.#topo.exec("server", ["iptables", "-X", "FWKNOP_INPUT"]);
    await Deno.remove(this.#dir, { recursive: true });
  }
}
