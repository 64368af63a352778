/**
 * A rig of faults around a real spa-server and spa-client in namespaces, for the tests that show
 * the client never stays stuck: loss on the wire (rules in the hub's bridge, out of sight of both
 * ends; `tc netem` does not work here), an `nft` that refuses (a wrapper first on the server's
 * PATH, switched by a flag file), the daemon killed and restarted, the client killed.
 *
 * @module
 */

import { type ServerProcess, type ServerSetup, startServer } from "../../harness/spa_server.ts";
import type { Topology } from "../../harness/topology.ts";
import { type NftWrapper, nftWrapper } from "../server/_faults.ts";

/** Loss the hub applies to the client's traffic to the server's port 22 (udp). */
export interface WireFaults {
  /** Drop every request from the client. */
  requests: boolean;
  /** Drop every answer to the client. */
  answers: boolean;
  /** Drop this percentage of both (nft `numgen random`), 0 for none. */
  randomPercent: number;
}

/** No loss. */
export const NO_WIRE_FAULTS: Readonly<WireFaults> = Object.freeze({
  requests: false,
  answers: false,
  randomPercent: 0,
});

/** The faults one test drives, and the server it restarts. */
export class FaultRig implements AsyncDisposable {
  readonly topo: Topology;
  readonly setup: ServerSetup;
  readonly #server: string;
  readonly #client: string;
  readonly #nft: NftWrapper;
  #wire: WireFaults = { ...NO_WIRE_FAULTS };
  #process: ServerProcess | undefined;

  private constructor(topo: Topology, setup: ServerSetup, nft: NftWrapper) {
    this.topo = topo;
    this.setup = setup;
    this.#server = topo.host("server").ipv4;
    this.#client = topo.host("client").ipv4;
    this.#nft = nft;
  }

  /**
   * Puts the fault-injecting `nft` wrapper of the server tests first on the server's PATH (it
   * also sits in front of the daemon's long-lived `nft -j -i`) and starts the server.
   */
  static async start(topo: Topology, setup: ServerSetup): Promise<FaultRig> {
    const rig = new FaultRig(topo, setup, await nftWrapper(setup.dir));
    await rig.startServer();
    return rig;
  }

  /** The running server, if any. */
  get server(): ServerProcess | undefined {
    return this.#process;
  }

  /** Whether the daemon is running. */
  get serverUp(): boolean {
    return this.#process !== undefined;
  }

  /** Starts spa-server (the shipped argv) with the wrapper first on its PATH. */
  async startServer(): Promise<ServerProcess> {
    if (this.#process !== undefined) return this.#process;
    const server = await startServer(this.topo, this.setup, {
      env: { PATH: this.#nft.path },
      timeoutMs: 30_000,
    });
    this.#process = server;
    return server;
  }

  /** SIGKILLs the daemon (no cleanup of any kind) and waits for it to be gone. */
  async killServer(): Promise<void> {
    const server = this.#process;
    if (server === undefined) return;
    this.#process = undefined;
    server.kill("SIGKILL");
    await server.exited;
  }

  /** Makes the server's `nft` refuse every grant (true) or work (false). */
  async refuseNft(refuse: boolean): Promise<void> {
    await this.#nft.set(refuse ? "fail-add" : "none");
  }

  /** The loss in force. */
  get wire(): Readonly<WireFaults> {
    return this.#wire;
  }

  /** Replaces the hub's loss rules with `faults`, in one nft transaction. */
  async setWire(faults: WireFaults): Promise<void> {
    this.#wire = { ...faults };
    const request = `ip saddr ${this.#client} ip daddr ${this.#server} udp dport 22`;
    const answer = `ip saddr ${this.#server} ip daddr ${this.#client} udp sport 22`;
    const rules: string[] = [];
    if (faults.requests) rules.push(`${request} drop`);
    if (faults.answers) rules.push(`${answer} drop`);
    if (faults.randomPercent > 0) {
      const drop = `numgen random mod 100 < ${faults.randomPercent} drop`;
      rules.push(`${request} ${drop}`, `${answer} ${drop}`);
    }
    const script = [
      "table bridge faults {}",
      "delete table bridge faults",
      "table bridge faults {",
      "  chain forward {",
      "    type filter hook forward priority 0;",
      ...rules.map((r) => `    ${r}`),
      "  }",
      "}",
    ].join("\n");
    await nft(this.topo.hubNs, script);
  }

  /** Ends every fault: no loss, a working nft, the daemon running. */
  async heal(): Promise<ServerProcess> {
    await this.setWire({ ...NO_WIRE_FAULTS });
    await this.refuseNft(false);
    return await this.startServer();
  }

  /** Stops the server (SIGTERM). The topology and setup folder are the caller's. */
  async [Symbol.asyncDispose](): Promise<void> {
    const server = this.#process;
    this.#process = undefined;
    if (server === undefined) return;
    server.kill("SIGTERM");
    const timer = setTimeout(() => server.kill("SIGKILL"), 5000);
    await server.exited.catch(() => {});
    clearTimeout(timer);
  }
}

/**
 * Applies an nft `script` in network namespace `ns` (`nft -f -`, one transaction); throws with
 * nft's message when it refuses.
 *
 * @example
 * ```ts
 * import type { Topology } from "../../harness/topology.ts";
 * import { nft } from "./_fault_rig.ts";
 * // Needs root and a topology: type-checked by `deno test --doc`, not run.
 * async function addLossTable(topo: Topology): Promise<void> {
 *   await nft(topo.hubNs, "table bridge loss { }");
 * }
 * ```
 */
export async function nft(ns: string, script: string): Promise<void> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", ns, "nft", "-f", "-"],
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script + "\n"));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`nft in ${ns}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * mulberry32: a small seeded PRNG, so a failing run is reproduced from its printed seed.
 *
 * @example
 * ```ts
 * import { prng } from "./_fault_rig.ts";
 * const a = prng(7), b = prng(7);
 * if (a() !== b()) throw new Error("same seed, same numbers");
 * ```
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Whether `faketime` (Debian package faketime) runs here: the clock-skew steps need it.
 *
 * @example
 * ```ts
 * import { hasFaketime } from "./_fault_rig.ts";
 * if (!(await hasFaketime())) console.error("skipped: no faketime");
 * ```
 */
export async function hasFaketime(): Promise<boolean> {
  try {
    return (await new Deno.Command("faketime", { args: ["-f", "+0s", "true"] }).output()).success;
  } catch {
    return false;
  }
}
