/**
 * The processes `bench/capture.ts` drives in its namespaces: tcpdump (also under `strace`), the
 * Capture child (`capture_child.ts`) and the flooder (`flood.ts`), and reading their output.
 *
 * @module
 */

import { MODULE_FLAGS } from "../lib/permissions.ts";
import type { Topology } from "../harness/topology.ts";
import { lines } from "./e2e/proc.ts";
import { FLOOD_FILTER, KNOWN_UID } from "./capture_child.ts";

const FLOOD_SECONDS = 30;
/** tcpdump hands over a ring block after 1 s (its default timeout); wait until all are ready. */
export const BLOCK_WAIT_MS = 1500;

/** Reads lines until one matches; throws after `ms` or at the end of the stream. */
export async function waitFor(
  reader: AsyncIterator<string>,
  match: (line: string) => boolean,
  what: string,
  ms = 20_000,
): Promise<string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Cannot run benchmark: no ${what} in ${ms} ms`)), ms);
  });
  try {
    while (true) {
      const next = await Promise.race([reader.next(), deadline]);
      if (next.done) throw new Error(`Cannot run benchmark: ended before ${what}`);
      if (match(next.value)) return next.value;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** What the flooder reports. */
export interface FloodReport {
  sent: number;
  seconds: number;
  rate: number;
}

/** A process of the bench and its output lines. */
export interface Running {
  process: Deno.ChildProcess;
  /** tcpdump: its stderr; the Capture child: its stdout. */
  lines: AsyncIterator<string>;
}

/** Floods the server's eth0 from the client with `count` packets (`rate` 0: as fast as it can). */
export async function floodFrom(topo: Topology, count: number, rate: number): Promise<FloodReport> {
  const out = await topo.execOk("client", [
    Deno.execPath(),
    "run",
    ...MODULE_FLAGS,
    "-A",
    new URL("./flood.ts", import.meta.url).pathname,
    `--to=${topo.host("server").ipv4}`,
    `--count=${count}`,
    `--rate=${rate}`,
    `--seconds=${FLOOD_SECONDS}`,
    `--uid=${KNOWN_UID}`,
  ]);
  return JSON.parse(out) as FloodReport;
}

/** Starts tcpdump on the server's eth0 and waits until it listens. */
export async function startTcpdump(
  topo: Topology,
  ringMib: number,
  extra: string[] = [],
  prefix: string[] = [],
): Promise<Running> {
  const process = topo.spawn("server", [
    ...prefix,
    "tcpdump",
    "-i",
    "eth0",
    "-n",
    "-w",
    "/dev/null",
    "-B",
    String(ringMib * 1024),
    ...extra,
  ]);
  const stderr = lines(process.stderr);
  await waitFor(stderr, (line) => line.includes("listening on"), "tcpdump start");
  return { process, lines: stderr };
}

/** Starts the Capture child under the spa-server permission flags and waits until it reads. */
export async function startCapture(
  topo: Topology,
  flags: string[],
  mode: string,
  ringMib: number,
  count = 0,
  warm = 0,
): Promise<Running> {
  const process = topo.spawn("server", [
    Deno.execPath(),
    "run",
    ...flags,
    new URL("./capture_child.ts", import.meta.url).pathname,
    `--child=${mode}`,
    `--ring=${ringMib}`,
    `--count=${count}`,
    `--warm=${warm}`,
  ], { stdin: "piped", stderr: "inherit" });
  const stdout = lines(process.stdout);
  await waitFor(stdout, (line) => line === "ready", "capture start");
  return { process, lines: stdout };
}

/** tcpdump's closing counts. */
export async function tcpdumpCounts(
  stderr: AsyncIterator<string>,
): Promise<{ captured: number; dropped: number }> {
  const count = async (what: string) =>
    Number((await waitFor(stderr, (line) => line.includes(what), what)).split(" ")[0]);
  return {
    captured: await count("packets captured"),
    dropped: await count("packets dropped by kernel"),
  };
}

/** Seconds from `start` until `process` exits (killed after `ms`). */
export async function exitAfter(
  process: Deno.ChildProcess,
  start: number,
  ms = 60_000,
): Promise<number> {
  const timer = setTimeout(() => process.kill("SIGKILL"), ms);
  const status = await process.status;
  clearTimeout(timer);
  if (!status.success) {
    throw new Error(`Cannot run benchmark: a capture did not finish in ${ms} ms`);
  }
  return (performance.now() - start) / 1000;
}

/** tcpdump's drain split by `strace -T` (its own syscalls timed), or why it could not be. */
export type TcpdumpPhases =
  | { loopSeconds: number; munmapSeconds: number; closeSeconds: number; totalSeconds: number }
  | { skipped: string };

/**
 * One tcpdump drain under `strace --seccomp-bpf` (only munmap, close and exit_group stop it, so its
 * read loop runs untraced): SIGCONT to the ring's munmap is its read loop, then pcap_close's munmap
 * and the packet socket's close release the ring, as `capture.close()` does for Capture.
 */
export async function tracedTcpdumpRound(
  topo: Topology,
  count: number,
  ringMib: number,
): Promise<TcpdumpPhases> {
  const probe = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
    .output().catch(() => undefined);
  if (probe?.success !== true) return { skipped: "no strace (Debian package strace)" };
  const log = await Deno.makeTempFile({ suffix: ".strace" });
  try {
    const tracer = await startTcpdump(topo, ringMib, ["-c", String(count), FLOOD_FILTER], [
      "strace",
      "-f",
      "--seccomp-bpf",
      "-ttt",
      "-T",
      "-e",
      "trace=munmap,close,exit_group",
      "-o",
      log,
    ]);
    // `ip netns exec` became strace; tcpdump is its child.
    const children = await Deno.readTextFile(
      `/proc/${tracer.process.pid}/task/${tracer.process.pid}/children`,
    );
    const pid = Number(children.trim().split(" ")[0]);
    if (!(pid > 0)) throw new Error("Cannot run benchmark: strace started no tcpdump");
    Deno.kill(pid, "SIGSTOP");
    await floodFrom(topo, count, 0);
    await new Promise((resolve) => setTimeout(resolve, BLOCK_WAIT_MS));
    Deno.kill(pid, "SIGCONT");
    await exitAfter(tracer.process, performance.now());
    const text = await Deno.readTextFile(log);
    // Lines read "<pid> <seconds since the epoch> <call or signal> … <its duration>".
    const time = (line: string | undefined) => Number(line?.match(/^\s*\d+\s+([\d.]+)\s/)?.[1]);
    const took = (line: string | undefined) => Number(line?.match(/<([\d.]+)>$/)?.[1]);
    const all = text.split("\n");
    const resumed = all.find((line) => line.includes("--- SIGCONT"));
    const ring = all.find((line) =>
      /munmap\(0x[0-9a-f]+, (\d+)\)/.exec(line)?.[1] === String(ringMib * 2 ** 20)
    );
    const closes = all.filter((line) => / close\(\d+\) += 0 </.test(line)).map(took);
    const exited = all.find((line) => line.includes("+++ exited with 0"));
    if (resumed === undefined || ring === undefined || exited === undefined) {
      return { skipped: "strace's log lacks SIGCONT, the ring's munmap or the exit" };
    }
    return {
      loopSeconds: time(ring) - time(resumed),
      munmapSeconds: took(ring),
      closeSeconds: Math.max(0, ...closes),
      totalSeconds: time(exited) - time(resumed),
    };
  } finally {
    await Deno.remove(log);
  }
}
