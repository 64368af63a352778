/**
 * The prober: ONE long-lived process in the client namespace that, per request, starts the
 * knocking client itself and polls the protected port with fresh connects (`connect_poller.ts`),
 * so no measurement includes a process spawn per poll. It also captures the client's own eth0 to
 * timestamp the knock packet as it leaves, which splits knock→open into "client start → knock on
 * the wire" and "knock on the wire → port open".
 *
 * It speaks JSON lines: one {@linkcode ProbeRequest} per stdin line, one {@linkcode ProbeResult}
 * per stdout line. The parent side is {@linkcode Prober}.
 *
 * @module
 */

import { Capture } from "../../ffi/pcap.ts";
import { IPPROTO_UDP } from "../../lib/packet/constants.ts";
import { decodeFrame } from "../../lib/packet/decode.ts";
import { PacketView } from "../../lib/packet/view.ts";
import { TRAILER_LENGTH } from "../../lib/protocol/constants.ts";
import type { Topology } from "../../harness/topology.ts";
import { ConnectPoller } from "./connect_poller.ts";
import { lines, stopChild } from "./proc.ts";
import { MODULE_FLAGS } from "../../lib/permissions.ts";

/** One request to the prober. */
export type ProbeRequest =
  /** Start `argv`, poll until the port opens (or `openTimeoutMs`), wait for the client to end. */
  | {
    op: "knock";
    argv: string[];
    env?: Record<string, string>;
    openTimeoutMs: number;
    /** Kill the client if it runs longer than this. */
    clientTimeoutMs: number;
    /** Connect from this address of the client host (default: the kernel's choice). */
    source?: string;
  }
  /** Poll for `timeoutMs` without knocking: is the port open? */
  | { op: "probe"; timeoutMs: number; source?: string };

/** What the prober answers. */
export interface ProbeResult {
  /** Client start → first completed connect, ms; `null` when the port did not open in time. */
  openMs: number | null;
  /** Client start → the knock packet seen leaving eth0, ms; `null` when none was seen. */
  wireMs: number | null;
  /** Client start → client exit, ms; `null` when it was killed. */
  clientMs: number | null;
  clientCode: number | null;
  clientStdout: string;
  clientStderr: string;
  /** Gaps between two connects: how many, how many over 1 ms, the median and the largest (ms). */
  gaps: GapStats;
}

/** Gaps between consecutive connects of the poller. */
export interface GapStats {
  count: number;
  over1Ms: number;
  p50Ms: number;
  maxMs: number;
}

function gapStats(gaps: readonly number[]): GapStats {
  return {
    count: gaps.length,
    over1Ms: gaps.filter((g) => g > 1).length,
    p50Ms: percentile(gaps, 0.5),
    maxMs: gaps.reduce((a, b) => Math.max(a, b), 0),
  };
}

/** Parent side: starts the prober in a host and sends it requests, one at a time. */
export class Prober implements AsyncDisposable {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;

  /**
   * Starts `prober.ts` in `host` of `topo`, polling `server:port` and watching its eth0 for
   * knocks from `client` (the host's own address) to `server`.
   *
   * @example
   * ```ts ignore
   * await using prober = await Prober.start(topo, "client", "10.77.0.1", 22, "10.77.0.2");
   * ```
   */
  static async start(
    topo: Topology,
    host: string,
    server: string,
    port: number,
    client: string,
  ): Promise<Prober> {
    const child = topo.spawn(host, [
      Deno.execPath(),
      "run",
      ...MODULE_FLAGS,
      "--allow-all",
      new URL(import.meta.url).pathname,
      server,
      String(port),
      client,
    ], { stdin: "piped", stderr: "inherit" });
    const prober = new Prober(child);
    const ready = await prober.#lines.next();
    if (ready.done || ready.value !== "ready") {
      throw new Error(`Cannot start the prober: it said ${JSON.stringify(ready.value)}`);
    }
    return prober;
  }

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines(child.stdout)[Symbol.asyncIterator]();
  }

  /** Sends one request and waits for its result. */
  async request(request: ProbeRequest): Promise<ProbeResult> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(request) + "\n"));
    const next = await this.#lines.next();
    if (next.done) throw new Error("Cannot probe: the prober exited");
    return JSON.parse(next.value) as ProbeResult;
  }

  /** Ends the prober. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.#writer.close();
    } catch { /* already gone */ }
    await stopChild(this.#child, undefined, 2000);
  }
}

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function serve(server: string, port: number, client: string): Promise<void> {
  using poller = new ConnectPoller(server, port);
  using capture = Capture.open("eth0", { bufferSize: 4 << 20 });
  capture.setFilter(`ip src host ${client} and ip dst host ${server} and (udp or tcp)`);
  const view = new PacketView();
  let knockAt: number | undefined;
  let since = 0;
  const onPacket = (frame: Uint8Array, length: number, _wire: number, micros: number) => {
    if (knockAt !== undefined || decodeFrame(capture.linkType, frame, length, view) !== "ok") {
      return;
    }
    if (view.protocol !== IPPROTO_UDP && view.payloadLength < TRAILER_LENGTH) return;
    const at = micros / 1000 - performance.timeOrigin;
    if (at >= since - 1) knockAt = at;
  };
  const drain = () => capture.read(onPacket, 4096);
  const out = (result: ProbeResult) => console.log(JSON.stringify(result));
  console.log("ready");
  for await (const line of lines(Deno.stdin.readable)) {
    const request = JSON.parse(line) as ProbeRequest;
    while (drain() > 0) { /* discard what came before */ }
    poller.reset(request.source);
    knockAt = undefined;
    since = performance.now();
    if (request.op === "probe") {
      const openedAt = await poller.until(since + request.timeoutMs);
      out({
        openMs: openedAt === undefined ? null : openedAt - since,
        wireMs: null,
        clientMs: null,
        clientCode: null,
        clientStdout: "",
        clientStderr: "",
        gaps: gapStats(poller.gaps),
      });
      continue;
    }
    const [program, ...args] = request.argv;
    const started = performance.now();
    since = started;
    const child = new Deno.Command(program!, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...(request.env ? { env: request.env } : {}),
    }).spawn();
    let clientMs: number | null = null;
    const output = child.output().then((o) => {
      clientMs = performance.now() - started;
      return o;
    });
    const killer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }, request.clientTimeoutMs);
    const openedAt = await poller.until(started + request.openTimeoutMs, drain);
    const gaps = [...poller.gaps];
    const o = await output;
    clearTimeout(killer);
    for (let i = 0; i < 10 && knockAt === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 2));
      drain();
    }
    const decoder = new TextDecoder();
    out({
      openMs: openedAt === undefined ? null : openedAt - started,
      wireMs: knockAt === undefined ? null : knockAt - started,
      clientMs: o.signal === "SIGKILL" ? null : clientMs,
      clientCode: o.signal === null ? o.code : null,
      clientStdout: decoder.decode(o.stdout),
      clientStderr: decoder.decode(o.stderr),
      gaps: gapStats(gaps),
    });
  }
}

if (import.meta.main) {
  const [server, port, client] = Deno.args;
  if (server === undefined || port === undefined || client === undefined) {
    console.error("usage: prober.ts SERVER_IPV4 PORT CLIENT_IPV4 (then JSON requests on stdin)");
    Deno.exit(2);
  }
  await serve(server, Number(port), client);
}
