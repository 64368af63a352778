/**
 * Capture benchmark: `Capture` (with trailer inspection on every packet, run under the exact
 * `spa-server` permission flags) against `tcpdump -w /dev/null`, on the same flood in the same
 * run, in a namespace pair built by the test harness.
 *
 * - Live: both capture the server's eth0 while the client floods as fast as it can (or `--rate`);
 *   packets handled, kernel drops, and CPU of each capturing process (from /proc/<pid>/stat).
 * - Drain ceiling: both are frozen (SIGSTOP) while `--drain-count` packets fill their rings, then
 *   each is resumed alone and timed until it has read them all and exited (median of 3 rounds;
 *   a round whose ring overflowed is run again). Capture's child also reports its read loop alone
 *   and what its last packet to exit is made of. The same rounds are run with the child as it was
 *   before issue 15 (see {@linkcode child}), so both figures come from the same run.
 *
 * Writes its section of bench/RESULTS.md (`<!-- capture:begin -->`).
 *
 * ```sh
 * deno task bench:capture [--count 2000000] [--rate 0] [--drain-count 1000000]
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
import { loadAverage, writeSection } from "./section.ts";

const KNOWN_UID = 1000;
const FLOOD_SECONDS = 30;
const LIVE_RING_MIB = 32; // given to Capture and tcpdump alike (Capture's own default is 8 MiB)
const DRAIN_RING_MIB = 1024; // 4096 blocks of 1 ms: 1M packets fit at ≥ 250k packets/s
const DRAIN_ROUNDS = 3;
/** Rounds in which the ring overflowed are run again, this many times at most. */
const DRAIN_RETRIES = 8;
const DRAIN_WARM = 200_000;
const DEFAULT_DRAIN_COUNT = 1_000_000;
/** Issue 15, goal 6: the drain at least this fraction of tcpdump's rate. */
const DRAIN_GOAL = 0.89;
/** The drain child takes a timestamp every this many packets (DRAIN_WARM is a multiple). */
const MARK_EVERY = 50_000;
const FLOOD_FILTER = "udp dst port 9";
/** tcpdump hands over a ring block after 1 s (its default timeout); wait until all are ready. */
const BLOCK_WAIT_MS = 1500;

/** What a capture child reports when it ends. */
interface ChildReport {
  handled: number;
  known: number;
  dropped: number;
  /** From the first drained packet to the last (the read loop alone). */
  drainSeconds: number;
  /** From the last packet to the report printed, to the capture closed (ring unmapped). */
  reportSeconds: number;
  closeSeconds: number;
}

/**
 * Child: capture eth0 with trailer inspection; `live` until stdin closes, `drain` until `count`.
 *
 * The per-packet callback takes the same branches while warming up as while draining: a branch
 * first taken at the drain's first packet (the old `handled === warm` timestamp) made V8 throw
 * away the optimized read loop right after SIGCONT (`--trace-deopt`: "Insufficient type feedback"),
 * and the drain ran in slower tiers until the loop was compiled again, which on a loaded 2-core
 * machine took 30-40 ms of the 70-150 ms drain. A daemon's loop, taking the same branches for
 * every packet, does not pay that; so timestamps are taken at every `MARK_EVERY`th packet, warm-up
 * included, and "warm" is printed from a timer, outside the loop.
 */
async function child(mode: string, ringMib: number, count: number, warm: number): Promise<void> {
  // The inspection a daemon does first on every packet: the 5-byte UID 37 bytes from the end,
  // looked up among the known users.
  const users = new Map<number, number>();
  for (let uid = KNOWN_UID; uid < KNOWN_UID + 100; uid++) users.set(uid, 0);
  let handled = 0;
  let known = 0;
  let last = 0;
  // Times of packets 1, MARK_EVERY + 1, 2 × MARK_EVERY + 1, …: with `warm` a multiple of
  // MARK_EVERY, the drain's first packet (warm + 1) is one of them.
  const marks = new Float64Array(Math.ceil(Math.max(count, warm) / MARK_EVERY) + 1);
  let nextMark = 1;
  let mark = 0;
  // The drain counts packets exactly, so it takes only the flood (tcpdump gets the same filter).
  const drain = mode !== "live";
  const filter = drain ? { filter: FLOOD_FILTER } : {};
  const capture = Capture.open("eth0", { bufferSize: ringMib * 1024 * 1024, ...filter });
  const stop = new AbortController();
  const inspect = (frame: Uint8Array, length: number) => {
    if (length < TRAILER_LENGTH) return;
    const at = length - TRAILER_LENGTH;
    const low = (frame[at + 1]! << 24) | (frame[at + 2]! << 16) | (frame[at + 3]! << 8) |
      frame[at + 4]!;
    const uid = frame[at]! * 2 ** 32 + (low >>> 0);
    const seen = users.get(uid);
    if (seen !== undefined) {
      users.set(uid, seen + 1);
      known++;
    }
  };
  const end = () => {
    last = performance.now();
    stop.abort();
  };
  const onPacket = mode === "drain-first-packet"
    // The method before issue 15: a timestamp, and "warm", on branches first taken at the drain's
    // first packet and at the warm-up's last.
    ? (frame: Uint8Array, length: number) => {
      if (handled++ === warm) marks[warm / MARK_EVERY] = performance.now();
      inspect(frame, length);
      if (handled === warm && warm > 0) console.log("warm");
      if (handled === count) end();
    }
    : (frame: Uint8Array, length: number) => {
      if (++handled === nextMark) {
        marks[mark++] = performance.now();
        nextMark += MARK_EVERY;
      }
      inspect(frame, length);
      if (handled === count) end();
    };
  const done = capture.run(onPacket, stop.signal);
  console.log("ready");
  if (mode === "live") {
    for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
    stop.abort();
  } else {
    const printWarm = mode === "drain";
    // "warm" once the warm-up flood is read (from a timer: the loop's branches stay the same).
    // Should the ring have overflowed, the count is never reached: stop once the drain, having
    // started (more packets than when "warm" was printed), stalls.
    let atWarm = -1;
    let seen = 0;
    const tick = setInterval(() => {
      if (atWarm < 0 && handled >= warm) {
        atWarm = handled;
        if (printWarm) console.log("warm");
      } else if (atWarm >= 0 && handled > atWarm && handled === seen) {
        stop.abort();
      }
      seen = handled;
    }, 200);
    stop.signal.addEventListener("abort", () => clearInterval(tick));
  }
  await done;
  const first = marks[warm / MARK_EVERY] ?? last;
  const report: Omit<ChildReport, "reportSeconds" | "closeSeconds"> = {
    handled,
    known,
    dropped: capture.stats().dropped,
    drainSeconds: (last - first) / 1000,
  };
  console.log(JSON.stringify(report));
  const reported = performance.now();
  capture.close(); // releases the ring: unmaps it and closes the socket (tcpdump: pcap_close too)
  const closed = performance.now();
  console.log(JSON.stringify({
    reportSeconds: (reported - last) / 1000,
    closeSeconds: (closed - reported) / 1000,
  }));
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
async function startTcpdump(
  topo: Topology,
  ringMib: number,
  extra: string[] = [],
  prefix: string[] = [],
) {
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
  /** SIGCONT to exit, and its parts (the rest: SIGCONT to the first packet, and Deno's exit). */
  oursSeconds: number;
  oursReadSeconds: number;
  oursReportSeconds: number;
  oursCloseSeconds: number;
  floodRate: number;
}

/**
 * One drain round, or the flood's rate when Capture's ring overflowed: Capture hands over a ring
 * block after 1 ms (the kernel's timer may take longer), full or not, so `count` packets fit only
 * when the flood reaches about {@linkcode fittingRate} (tcpdump's blocks, handed over after 1 s,
 * fill up).
 */
async function drainRound(
  topo: Topology,
  flags: string[],
  count: number,
  mode: string,
): Promise<DrainRound | { overflowedAt: number }> {
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
    mode,
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
  const [oursSeconds, report, phases] = await Promise.all([
    exitAfter(ours.process, oursResumed),
    waitFor(ours.stdout, (line) => line.startsWith('{"handled"'), "report", 60_000),
    waitFor(ours.stdout, (line) => line.startsWith('{"reportSeconds"'), "phases", 60_000),
  ]);
  const { handled, drainSeconds }: ChildReport = JSON.parse(report);
  const { reportSeconds, closeSeconds }: ChildReport = JSON.parse(phases);
  if (handled !== DRAIN_WARM + count) return { overflowedAt: flood.rate };
  return {
    tcpdumpHandled: tcpdumpHandled - DRAIN_WARM,
    tcpdumpSeconds,
    oursHandled: handled - DRAIN_WARM,
    oursSeconds,
    oursReadSeconds: drainSeconds,
    oursReportSeconds: reportSeconds,
    oursCloseSeconds: closeSeconds,
    floodRate: flood.rate,
  };
}

/** tcpdump's drain split by `strace -T` (its own syscalls timed), or why it could not be. */
type TcpdumpPhases =
  | { loopSeconds: number; munmapSeconds: number; closeSeconds: number; totalSeconds: number }
  | { skipped: string };

/**
 * One tcpdump drain under `strace --seccomp-bpf` (only munmap, close and exit_group stop it, so its
 * read loop runs untraced): SIGCONT to the ring's munmap is its read loop, then pcap_close's munmap
 * and the packet socket's close release the ring, as `capture.close()` does for Capture.
 */
async function tracedTcpdumpRound(topo: Topology, count: number): Promise<TcpdumpPhases> {
  const probe = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
    .output().catch(() => undefined);
  if (probe?.success !== true) return { skipped: "no strace (Debian package strace)" };
  const log = await Deno.makeTempFile({ suffix: ".strace" });
  try {
    const tracer = await startTcpdump(topo, DRAIN_RING_MIB, ["-c", String(count), FLOOD_FILTER], [
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
      /munmap\(0x[0-9a-f]+, (\d+)\)/.exec(line)?.[1] === String(DRAIN_RING_MIB * 2 ** 20)
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

/** The drain rounds of one child method, and their median by ratio. */
interface DrainSeries {
  rounds: DrainRound[];
  median: DrainRound;
  overflowed: number;
}

/** The flood rate at which `count` packets fit the drain ring when a block is handed over per ms. */
function fittingRate(count: number): number {
  const blocks = DRAIN_RING_MIB * 4; // 256 KiB blocks
  return count / (blocks / 1000);
}

/** The median of `values`. */
function medianOf(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** Median by resume-to-exit ratio (tcpdump's time / ours: above 1 means faster than tcpdump). */
function medianRound(rounds: DrainRound[]): DrainRound {
  const sorted = [...rounds].sort((a, b) =>
    a.tcpdumpSeconds / a.oursSeconds - b.tcpdumpSeconds / b.oursSeconds
  );
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** DRAIN_ROUNDS rounds of each child method, alternating, each round with its own tcpdump run. */
async function drainSeries(
  topo: Topology,
  flags: string[],
  count: number,
  modes: readonly string[],
): Promise<DrainSeries[]> {
  const series = modes.map(() => ({ rounds: [] as DrainRound[], overflowed: 0 }));
  for (let round = 0; round < DRAIN_ROUNDS; round++) {
    for (const [i, mode] of modes.entries()) {
      const one = series[i]!;
      const rates: number[] = [];
      while (true) {
        const result = await drainRound(topo, flags, count, mode);
        if (!("overflowedAt" in result)) {
          one.rounds.push(result);
          break;
        }
        rates.push(Math.round(result.overflowedAt));
        if (++one.overflowed > DRAIN_RETRIES) {
          throw new Error(
            `Cannot measure the drain: Capture's ring overflowed in ${one.overflowed} rounds; ` +
              `with a block of its ${DRAIN_RING_MIB} MiB ring handed over every 1 ms, ${count} ` +
              `packets need about ${Math.round(fittingRate(count))} packets/s, the floods ran at ` +
              `${rates.join(", ")} packets/s (try a smaller --drain-count)`,
          );
        }
      }
    }
  }
  return series.map((one) => ({ ...one, median: medianRound(one.rounds) }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      count: { type: "string", default: "2000000" },
      rate: { type: "string", default: "0" },
      "drain-count": { type: "string", default: String(DEFAULT_DRAIN_COUNT) },
    },
  });
  const count = Number(values.count);
  const drainCount = Number(values["drain-count"]);
  const loadBefore = loadAverage();
  const started = new Date();
  // The harness's hub is a plain switch (bridge netfilter off), so the sender runs at full rate.
  await using topo = await createTopology(["server", "client"]);
  const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const out: string[] = [];
  try {
    const flags = serverFlags({ configDir: dirs[0]!, stateDir: dirs[1]!, commands: [] });

    // Live: both capture the same flood; then Capture alone, so the sender can go faster.
    const both = await liveRound(topo, flags, count, Number(values.rate), true);
    const alone = await liveRound(topo, flags, count, Number(values.rate), false);
    const { sent, live, tcpdumpLive, cpu } = both;

    // Drain ceiling: both frozen while the flood fills their rings, then timed one at a time;
    // the median of DRAIN_ROUNDS rounds, for the child as measured now and as before issue 15.
    const [now, before] = await drainSeries(topo, flags, drainCount, [
      "drain",
      "drain-first-packet",
    ]);
    const drain = now!.median;
    const traced = await tracedTcpdumpRound(topo, drainCount);

    const row = (name: string, a: number | string, b: number | string, ratio = "") =>
      out.push(`| ${name} | ${a} | ${b} | ${ratio} |`);
    const ratio = (ours: number, theirs: number) =>
      theirs === 0 ? "" : `${(ours / theirs).toFixed(2)}×`;
    const mpps = (n: number, s: number) => (n / s / 1e6).toFixed(2);
    const ms = (s: number) => (s * 1000).toFixed(1);
    out.push(
      `sender: ${sent.sent} packets in ${sent.seconds.toFixed(2)} s = ` +
        `${Math.round(sent.rate)} packets/s (AF_PACKET sendmmsg, 114-byte frames)`,
      "",
      "| | tcpdump -w /dev/null | Capture + trailer inspection | ratio |",
      "|---|---|---|---|",
    );
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
      `drain: packets (ring ${DRAIN_RING_MIB} MiB)`,
      drain.tcpdumpHandled,
      drain.oursHandled,
    );
    row("drain: resume to exit, s", drain.tcpdumpSeconds.toFixed(3), drain.oursSeconds.toFixed(3));
    row(
      "**drain ceiling, M packets/s** (resume to exit)",
      mpps(drainCount, drain.tcpdumpSeconds),
      mpps(drainCount, drain.oursSeconds),
      `**${ratio(drain.tcpdumpSeconds, drain.oursSeconds)}**`,
    );
    const loopMedian = medianOf(now!.rounds.map((r) => r.oursReadSeconds));
    if ("skipped" in traced) {
      row(
        "drain: read loop alone, M packets/s (median of the rounds)",
        "",
        mpps(drainCount, loopMedian),
      );
    } else {
      row(
        "drain: read loop alone, M packets/s (Capture: median of the rounds; tcpdump: one more " +
          "round under strace, SIGCONT to pcap_close's munmap)",
        mpps(drainCount, traced.loopSeconds),
        mpps(drainCount, loopMedian),
        ratio(traced.loopSeconds, loopMedian),
      );
      row(
        "drain: ring release, ms (tcpdump: munmap + the socket's close, under strace; Capture: " +
          "close())",
        `${ms(traced.munmapSeconds)} + ${ms(traced.closeSeconds)}`,
        ms(medianOf(now!.rounds.map((r) => r.oursCloseSeconds))),
      );
    }
    row(
      "drain: Capture's last packet to exit, ms: report / close (ring released) / rest",
      "",
      `${ms(drain.oursReportSeconds)} / ${ms(drain.oursCloseSeconds)} / ${
        ms(
          drain.oursSeconds - drain.oursReadSeconds - drain.oursReportSeconds -
            drain.oursCloseSeconds,
        )
      }`,
    );
    const listRounds = (series: DrainSeries) =>
      series.rounds.map((r) =>
        `- ${mpps(drainCount, r.tcpdumpSeconds)} / ${mpps(drainCount, r.oursSeconds)} / ` +
        `${ratio(r.tcpdumpSeconds, r.oursSeconds)}; read loop ${
          mpps(drainCount, r.oursReadSeconds)
        }` +
        `; last packet to exit ${ms(r.oursSeconds - r.oursReadSeconds)} ms ` +
        `(ring filled at ${Math.round(r.floodRate)} packets/s)`
      );
    const verdict = (series: DrainSeries) => {
      const r = series.median.tcpdumpSeconds / series.median.oursSeconds;
      const all = series.rounds.map((x) => x.tcpdumpSeconds / x.oursSeconds);
      return `median ${r.toFixed(2)}× (rounds ${Math.min(...all).toFixed(2)}–` +
        `${Math.max(...all).toFixed(2)}×): ${r >= DRAIN_GOAL ? "**met**" : "**missed**"}`;
    };
    out.push(
      "",
      `Drain rounds, M packets/s tcpdump / Capture / ratio (${drainCount} packets, median above; ` +
        `rounds whose ring overflowed, run again: ${now!.overflowed}):`,
      ...listRounds(now!),
      "",
      `Goal (issue 15): drain ≥ ${DRAIN_GOAL}× tcpdump's, resume to exit: ${verdict(now!)}.`,
      ...("skipped" in traced ? ["", `tcpdump under strace: skipped (${traced.skipped}).`] : [
        "",
        `tcpdump under strace (one more round): resume to exit ${ms(traced.totalSeconds)} ms, of ` +
        `which read loop ${ms(traced.loopSeconds)}, ring release ${
          ms(traced.munmapSeconds + traced.closeSeconds)
        } (munmap ${ms(traced.munmapSeconds)}, close ${ms(traced.closeSeconds)}).`,
      ]),
      "",
      `The same rounds with the child as before issue 15 (its timestamp and "warm" on branches first ` +
        `taken at the drain's first packet, so V8 deoptimized the read loop right after SIGCONT), ` +
        `alternating with the rounds above: ${verdict(before!)}; ` +
        `rounds whose ring overflowed: ${before!.overflowed}.`,
      ...listRounds(before!),
    );
    console.log(`\n${out.join("\n")}`);
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
  }
  await writeSection(
    "capture",
    [
      "<!-- capture:begin -->",
      "",
      "## Capture against tcpdump (`deno task bench:capture`)",
      "",
      `Written by \`deno task bench:capture\` (\`bench/capture.ts\`); ${
        started.toISOString().slice(0, 16)
      }Z; load average before ${loadBefore}, after ${loadAverage()}. Capture runs under the exact ` +
      "spa-server flags (`serverFlags`), tcpdump as `tcpdump -w /dev/null`, same flood, same namespace. " +
      `Drain: both read a ${DRAIN_WARM}-packet warm-up flood, are frozen (SIGSTOP) while ` +
      `${drainCount} packets fill their ${DRAIN_RING_MIB} MiB rings, then each is resumed alone and ` +
      "timed from SIGCONT to its exit, which includes releasing the ring (both call pcap_close).",
      "",
      ...out,
      "",
      "<!-- capture:end -->",
    ].join("\n"),
  );
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
