/**
 * Fault injection for the spa-server namespace tests: an `nft` wrapper put first on the daemon's
 * PATH (it can fail or hang chosen runs, and logs each run; for the daemon's long-lived
 * `nft -j -i` it sits between the daemon and the real nft and does so per command line), the daemon started with extra
 * environment (the wrapper's PATH, libfaketime), and small probes (RSS, exit time).
 *
 * @module
 */

import { Knocker, startEcho } from "../../harness/knocker.ts";
import {
  ALICE,
  type ServerProcess,
  type ServerSetup,
  type ServerSetupOptions,
  startServer,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import type { Topology } from "../../harness/topology.ts";

/** What the wrapper does with each nft run (except `nft monitor`, always passed through). */
export type NftFault =
  /** Pass every run to the real nft. */
  | "none"
  /** Runs whose script adds an element (open a grant) fail with exit code 1. */
  | "fail-add"
  /** Runs whose script adds an element hang (until killed). */
  | "hang-add"
  /** Every run hangs (until killed). */
  | "hang";

/** An `nft` wrapper on a PATH of its own. */
export interface NftWrapper {
  /** PATH for the daemon: the wrapper's folder first. */
  path: string;
  /** Chooses the fault from now on. */
  set(fault: NftFault): Promise<void>;
  /** Makes `nft monitor` fail at once from now on (the daemon then relies on its tick). */
  breakMonitor(): Promise<void>;
  /**
   * Runs so far: each "add" (adds an element) or "other"; a command line sent to the daemon's
   * long-lived `nft -j -i` counts as a run.
   */
  runs(): Promise<string[]>;
}

/**
 * Writes an `nft` wrapper into `dir/bin` that logs each run and injects the chosen fault.
 *
 * @example
 * ```ts ignore
 * const nft = await nftWrapper(setup.dir);
 * await nft.set("fail-add");
 * ```
 */
export async function nftWrapper(dir: string): Promise<NftWrapper> {
  const real = await which("nft");
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  const script = `#!/bin/bash
dir=${JSON.stringify(dir)}
fault=$(cat "$dir/nft-fault" 2>/dev/null)
if [ "$1" = monitor ]; then
  [ -e "$dir/nft-no-monitor" ] && { echo "Error: injected monitor failure" >&2; exit 1; }
  exec ${real} "$@"
fi
if [[ " $* " == *" -i "* ]]; then
  # The daemon's long-lived \`nft -j -i\`: each command line is a run; sentinels pass through.
  exec 3> >(exec ${real} "$@")
  while IFS= read -r line; do
    case "$line" in
      __spa_sync_*) ;;
      *)
        case "$line" in *"add element"*) kind=add;; *) kind=other;; esac
        echo "$kind" >> "$dir/nft-runs"
        fault=$(cat "$dir/nft-fault" 2>/dev/null)
        case "$fault/$kind" in
          fail-add/add) echo "Error: injected failure" >&2; line="";;
          hang-add/add|hang/*) exec sleep 600;;
        esac;;
    esac
    printf '%s\n' "$line" >&3
  done
  exit 0
fi
case "$*" in *"add element"*) kind=add;; *) kind=other;; esac
echo "$kind" >> "$dir/nft-runs"
case "$fault/$kind" in
  fail-add/add) echo "Error: injected failure" >&2; exit 1;;
  hang-add/add|hang/*) exec sleep 600;;
esac
exec ${real} "$@"
`;
  await Deno.writeTextFile(`${dir}/bin/nft`, script, { mode: 0o755 });
  await Deno.writeTextFile(`${dir}/nft-runs`, "");
  return {
    path: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    set: (fault) => Deno.writeTextFile(`${dir}/nft-fault`, fault),
    breakMonitor: () => Deno.writeTextFile(`${dir}/nft-no-monitor`, ""),
    runs: async () =>
      (await Deno.readTextFile(`${dir}/nft-runs`)).split("\n").filter((l) => l !== ""),
  };
}

async function which(program: string): Promise<string> {
  for (const folder of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) {
    try {
      await Deno.stat(`${folder}/${program}`);
      return `${folder}/${program}`;
    } catch { /* next */ }
  }
  throw new Error(`Cannot find ${program}`);
}

/**
 * Starts `spa-server run` like `startServer`, with `env` added to its environment (`ip netns
 * exec` keeps it), and waits for its `start` line.
 */
export function startServerWithEnv(
  topo: Topology,
  setup: ServerSetup,
  env: Record<string, string>,
  argvPrefix: readonly string[] = [],
): Promise<ServerProcess> {
  return startServer(topo, setup, { env, argvPrefix });
}

/** Resident set size of a process, in kB. */
export async function rssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = /VmRSS:\s+(\d+)/.exec(status);
  if (match === null) throw new Error(`Cannot read the RSS of ${pid}`);
  return Number(match[1]);
}

/**
 * Sends SIGTERM and returns how long the server took to exit, in ms; kills it and throws when it
 * has not exited within `limitMs`.
 */
export async function terminate(server: ServerProcess, limitMs: number): Promise<number> {
  const start = performance.now();
  server.kill("SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const exited = await Promise.race([
    server.exited.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), limitMs))),
  ]);
  clearTimeout(timer);
  const ms = Math.round(performance.now() - start);
  if (!exited) {
    server.kill("SIGKILL");
    await server.exited;
    throw new Error(`spa-server was still running ${limitMs} ms after SIGTERM`);
  }
  return ms;
}

/**
 * A server setup for {@linkcode ALICE} (with `options`), her knocker, and an echo service on the
 * server's port 22 for her knocks to reach. The caller removes `setup.dir`; it is removed here
 * when the echo service does not start.
 */
export async function aliceWithEcho(
  topo: Topology,
  options: Omit<ServerSetupOptions, "users"> = {},
): Promise<{ setup: ServerSetup; alice: Knocker }> {
  const setup = await writeServerSetup({ users: [ALICE], ...options });
  try {
    await startEcho(topo, "server", 22);
  } catch (error) {
    await Deno.remove(setup.dir, { recursive: true });
    throw error;
  }
  return { setup, alice: new Knocker(setup.users[0]!) };
}
