/**
 * Capture benchmark: `Capture` (with trailer inspection on every packet, run under the exact
 * `spa-server` permission flags) against `tcpdump -w /dev/null`, on the same flood in the same
 * run, in a namespace pair built by the test harness.
 *
 * - Live: both capture the server's eth0 while the client floods as fast as it can (or `--rate`);
 *   packets handled, kernel drops, and CPU of each capturing process (from /proc/<pid>/stat).
 * - Drain ceiling: both are frozen (SIGSTOP) while `--drain-count` packets fill their rings, then
 *   each is resumed alone and timed until it has read them all and exited (median of 3 rounds).
 *
 * ```sh
 * deno run -A bench/capture.ts [--count 2000000] [--rate 0] [--drain-count 1000000]
 * ```
 * Needs root. Bounded: every flood stops after its count or 30 s, every wait has a deadline.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Capture } from "../ffi/pcap.ts";
import { MODULE_FLAGS, serverFlags } from "../lib/permissions.ts";
import { TRAILER_LENGTH } from "../lib/protocol/constants.ts";
import { createTopology, type Topology } from "../harness/topology.ts";
import { cpuSeconds, lines } from "./e2e/proc.ts";

const KNOWN_UID = 1000;
const FLOOD_SECONDS = 30;
const LIVE_RING_MIB = 32; // given to Capture and tcpdump alike (Capture's own default is 8 MiB)
const DRAIN_RING_MIB = 1024; // 4096 blocks of 1 ms: 1M packets fit at ≥ 250k packets/s
const DRAIN_ROUNDS = 3;
const DRAIN_WARM = 200_000;
const FLOOD_FILTER = "udp dst port 9";
/** tcpdump hands over a ring block after 1 s (its default timeout); wait until all are ready. */
const BLOCK_WAIT_MS = 1500;

/** What a capture child reports when it ends. */
interface ChildReport {
  handled: number;
  known: number;
  dropped: number;
  drainSeconds: number;
}

/** Child: capture eth0 with trailer inspection; `live` until stdin closes, `drain` until `count`. */
async function child(mode: string, ringMib: number, count: number, warm: number): Promise<void> {
  // The inspection a daemon does first on every packet: the 5-byte UID 37 bytes from the end,
  // looked up among the known users.
  const users = new Map<number, number>();
  for (let uid = KNOWN_UID; uid < KNOWN_UID + 100; uid++) users.set(uid, 0);
  let handled = 0;
  let known = 0;
  let first = 0;
  let last = 0;
  // The drain counts packets exactly, so it takes only the flood (tcpdump gets the same filter).
  const filter = mode === "drain" ? { filter: FLOOD_FILTER } : {};
  using capture = Capture.open("eth0", { bufferSize: ringMib * 1024 * 1024, ...filter });
  const stop = new AbortController();
  const done = capture.run((frame, length) => {
    if (handled++ === warm) first = performance.now();
    if (length >= TRAILER_LENGTH) {
      const at = length - TRAILER_LENGTH;
      const low = (frame[at + 1]! << 24) | (frame[at + 2]! << 16) | (frame[at + 3]! << 8) |
        frame[at + 4]!;
      const uid = frame[at]! * 2 ** 32 + (low >>> 0);
      const seen = users.get(uid);
      if (seen !== undefined) {
        users.set(uid, seen + 1);
        known++;
      }
    }
    if (handled === warm && warm > 0) console.log("warm");
    if (handled === count) {
      last = performance.now();
      stop.abort();
    }
  }, stop.signal);
  console.log("ready");
  if (mode === "live") {
    for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
    stop.abort();
  } else {
    // Should the ring have overflowed, the count is never reached: stop once draining stalls.
    let seen = warm;
    const stall = setInterval(() => {
      if (handled > warm && handled === seen) stop.abort();
      seen = handled;
    }, 500);
    stop.signal.addEventListener("abort", () => clearInterval(stall));
  }
  await done;
  const report: ChildReport = {
    handled,
    known,
    dropped: capture.stats().dropped,
    drainSeconds: (last - first) / 1000,
  };
  console.log(JSON.stringify(report));
  capture.close();
  Deno.exit(0); // like tcpdump: exit once done, without waiting for the runtime's teardown
}

/** Reads lines until one matches; throws after `ms` or at the end of the stream. */
async function waitFor(
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

async function floodFrom(topo: Topology, count: number, rate: number) {
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
  return JSON.parse(out) as { sent: number; seconds: number; rate: number };
}

/** Starts tcpdump on the server's eth0 and waits until it listens. */
async function startTcpdump(topo: Topology, ringMib: number, extra: string[] = []) {
  const process = topo.spawn("server", [
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
  return { process, stderr };
}

/** Starts the Capture child under the spa-server permission flags and waits until it reads. */
async function startCapture(
  topo: Topology,
  flags: string[],
  mode: string,
  ringMib: number,
  count = 0,
  warm = 0,
) {
  const process = topo.spawn("server", [
    Deno.execPath(),
    "run",
    ...flags,
    new URL(import.meta.url).pathname,
    `--child=${mode}`,
    `--ring=${ringMib}`,
    `--count=${count}`,
    `--warm=${warm}`,
  ], { stdin: "piped", stderr: "inherit" });
  const stdout = lines(process.stdout);
  await waitFor(stdout, (line) => line === "ready", "capture start");
  return { process, stdout };
}

/** tcpdump's closing counts. */
async function tcpdumpCounts(stderr: AsyncIterator<string>) {
  const count = async (what: string) =>
    Number((await waitFor(stderr, (line) => line.includes(what), what)).split(" ")[0]);
  return {
    captured: await count("packets captured"),
    dropped: await count("packets dropped by kernel"),
  };
}

/** Seconds from `start` until `process` exits (killed after `ms`). */
async function exitAfter(process: Deno.ChildProcess, start: number, ms = 60_000): Promise<number> {
  const timer = setTimeout(() => process.kill("SIGKILL"), ms);
  const status = await process.status;
  clearTimeout(timer);
  if (!status.success) {
    throw new Error(`Cannot run benchmark: a capture did not finish in ${ms} ms`);
  }
  return (performance.now() - start) / 1000;
}

/** One live measurement: the flood, each capture's counts and CPU (% of a core). */
interface LiveRound {
  sent: { sent: number; seconds: number; rate: number };
  live: ChildReport;
  tcpdumpLive: { captured: number; dropped: number };
  cpu: number[];
}

async function liveRound(
  topo: Topology,
  flags: string[],
  count: number,
  rate: number,
  withTcpdump: boolean,
): Promise<LiveRound> {
  const tcpdump = withTcpdump ? await startTcpdump(topo, LIVE_RING_MIB) : undefined;
  const ours = await startCapture(topo, flags, "live", LIVE_RING_MIB);
  const pids = [tcpdump?.process.pid, ours.process.pid];
  const cpuNow = () => Promise.all(pids.map((pid) => pid === undefined ? 0 : cpuSeconds(pid)));
  const cpuBefore = await cpuNow();
  const start = performance.now();
  const sent = await floodFrom(topo, count, rate);
  await new Promise((resolve) => setTimeout(resolve, BLOCK_WAIT_MS)); // let both read the tail
  const wall = (performance.now() - start) / 1000;
  const cpu = (await cpuNow()).map((t, i) => (t - cpuBefore[i]!) / wall * 100);
  await ours.process.stdin.close();
  const live: ChildReport = JSON.parse(
    await waitFor(ours.stdout, (l) => l.startsWith("{"), "report"),
  );
  await ours.process.status;
  let tcpdumpLive = { captured: 0, dropped: 0 };
  if (tcpdump !== undefined) {
    tcpdump.process.kill("SIGINT");
    tcpdumpLive = await tcpdumpCounts(tcpdump.stderr);
    await tcpdump.process.status;
  }
  return { sent, live, tcpdumpLive, cpu };
}

/** One drain-ceiling measurement. */
interface DrainRound {
  tcpdumpHandled: number;
  tcpdumpSeconds: number;
  oursHandled: number;
  oursSeconds: number;
  oursReadSeconds: number;
  floodRate: number;
}

async function drainRound(topo: Topology, flags: string[], count: number): Promise<DrainRound> {
  // Both first read a warm-up flood (a daemon's loop is hot, and the JIT should be too), then
  // are frozen while the measured flood fills their rings.
  const tcpdump = await startTcpdump(topo, DRAIN_RING_MIB, [
    "-c",
    String(DRAIN_WARM + count),
    FLOOD_FILTER,
  ]);
  const ours = await startCapture(
    topo,
    flags,
    "drain",
    DRAIN_RING_MIB,
    DRAIN_WARM + count,
    DRAIN_WARM,
  );
  await floodFrom(topo, DRAIN_WARM, 0);
  await waitFor(ours.stdout, (line) => line === "warm", "warm-up");
  await new Promise((resolve) => setTimeout(resolve, BLOCK_WAIT_MS));
  tcpdump.process.kill("SIGSTOP");
  ours.process.kill("SIGSTOP");
  const flood = await floodFrom(topo, count, 0);
  await new Promise((resolve) => setTimeout(resolve, BLOCK_WAIT_MS));
  const tcpdumpResumed = performance.now();
  tcpdump.process.kill("SIGCONT");
  const tcpdumpSeconds = await exitAfter(tcpdump.process, tcpdumpResumed);
  const tcpdumpHandled = (await tcpdumpCounts(tcpdump.stderr)).captured;
  const oursResumed = performance.now();
  ours.process.kill("SIGCONT");
  // Awaited together, so a failure of one never leaves the other's rejection unhandled (which
  // would end this process before the topology is torn down).
  const [oursSeconds, report] = await Promise.all([
    exitAfter(ours.process, oursResumed),
    waitFor(ours.stdout, (line) => line.startsWith("{"), "report", 60_000),
  ]);
  const { handled, drainSeconds, dropped }: ChildReport = JSON.parse(report);
  if (handled !== DRAIN_WARM + count) {
    throw new Error(`Cannot measure the drain: the ring overflowed (${dropped} dropped)`);
  }
  return {
    tcpdumpHandled: tcpdumpHandled - DRAIN_WARM,
    tcpdumpSeconds,
    oursHandled: handled - DRAIN_WARM,
    oursSeconds,
    oursReadSeconds: drainSeconds,
    floodRate: flood.rate,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "2000000" },
      rate: { type: "string", default: "0" },
      "drain-count": { type: "string", default: "1000000" },
    },
  });
  const count = Number(values.count);
  const drainCount = Number(values["drain-count"]);
  // The harness's hub is a plain switch (bridge netfilter off), so the sender runs at full rate.
  await using topo = await createTopology(["server", "client"]);
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  try {
    const flags = serverFlags({ configDir: dirs[0]!, stateDir: dirs[1]!, commands: [] });

    // Live: both capture the same flood; then Capture alone, so the sender can go faster.
    const both = await liveRound(topo, flags, count, Number(values.rate), true);
    const alone = await liveRound(topo, flags, count, Number(values.rate), false);
    const { sent, live, tcpdumpLive, cpu } = both;

    // Drain ceiling: both frozen while the flood fills their rings, then timed one at a time;
    // the median of DRAIN_ROUNDS rounds.
    const rounds: DrainRound[] = [];
    for (let round = 0; round < DRAIN_ROUNDS; round++) {
      rounds.push(await drainRound(topo, flags, drainCount));
    }
    rounds.sort((a, b) => a.oursSeconds / a.tcpdumpSeconds - b.oursSeconds / b.tcpdumpSeconds);
    const drain = rounds[Math.floor(rounds.length / 2)]!;

    const row = (name: string, a: number | string, b: number | string, ratio = "") =>
      console.log(`| ${name} | ${a} | ${b} | ${ratio} |`);
    const ratio = (ours: number, theirs: number) =>
      theirs === 0 ? "" : `${(ours / theirs).toFixed(2)}×`;
    const mpps = (n: number, s: number) => (n / s / 1e6).toFixed(2);
    console.log(
      `\nsender: ${sent.sent} packets in ${sent.seconds.toFixed(2)} s = ` +
        `${Math.round(sent.rate)} packets/s (AF_PACKET sendmmsg, 114-byte frames)\n`,
    );
    console.log("| | tcpdump -w /dev/null | Capture + trailer inspection | ratio |");
    console.log("|---|---|---|---|");
    row(
      "live: packets handled",
      tcpdumpLive.captured,
      live.handled,
      ratio(live.handled, tcpdumpLive.captured),
    );
    row(
      "live: packets/s handled",
      Math.round(tcpdumpLive.captured / sent.seconds),
      Math.round(live.handled / sent.seconds),
    );
    row("live: kernel drops", tcpdumpLive.dropped, live.dropped);
    row("live: CPU, % of a core", cpu[0]!.toFixed(1), cpu[1]!.toFixed(1), ratio(cpu[1]!, cpu[0]!));
    row("live: trailers with a known UID", "", live.known);
    row(
      `live, Capture alone: ${Math.round(alone.sent.rate)} packets/s sent`,
      "",
      `${alone.live.handled} handled, ${alone.live.dropped} dropped, ${
        alone.cpu[1]!.toFixed(1)
      } % CPU`,
    );
    row(
      "drain: packets (ring " + DRAIN_RING_MIB + " MiB)",
      drain.tcpdumpHandled,
      drain.oursHandled,
    );
    row("drain: resume to exit, s", drain.tcpdumpSeconds.toFixed(3), drain.oursSeconds.toFixed(3));
    row(
      "drain ceiling, M packets/s",
      mpps(drainCount, drain.tcpdumpSeconds),
      mpps(drainCount, drain.oursSeconds),
      ratio(drain.tcpdumpSeconds, drain.oursSeconds),
    );
    row(
      "drain: Capture's read loop alone, M packets/s",
      "",
      mpps(drainCount, drain.oursReadSeconds),
    );
    console.log(`\ndrain rounds (median shown above), M packets/s tcpdump / Capture / ratio:`);
    for (const r of rounds) {
      console.log(
        `- ${mpps(drainCount, r.tcpdumpSeconds)} / ${mpps(drainCount, r.oursSeconds)} / ` +
          `${ratio(r.tcpdumpSeconds, r.oursSeconds)} (ring filled at ${
            Math.round(r.floodRate)
          } packets/s)`,
      );
    }
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    strict: false,
    options: {
      child: { type: "string" },
      ring: { type: "string" },
      count: { type: "string" },
      warm: { type: "string" },
    },
  });
  if (typeof values.child === "string") {
    await child(values.child, Number(values.ring), Number(values.count), Number(values.warm ?? 0));
  } else {
    await main();
  }
}
