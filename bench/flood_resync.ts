/**
 * `deno task bench:flood-resync`: does a flood of forged packets carrying a user's UID cost that
 * user anything? In namespaces (server, client, flooder on one bridge), `spa-server` with nft and
 * `spa-client` over UDP with `--retries 0`: for floods of 1k, 10k, 100k packets/s and the
 * flooder's maximum, from one source (the flooder's address), from 4096 spoofed sources, and
 * spoofing the client's own address, it counts resyncs and knocks that succeed on the first try,
 * with the daemon's CPU and capture drops over the window. A row without a flood is the baseline.
 * Writes the table between the `flood-resync` markers of `bench/RESULTS.md`.
 *
 * ```sh
 * deno task bench:flood-resync            # ~2.5 minutes
 * deno task bench:flood-resync --quick    # fewer tries and rates
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { readStatus, type StatusFile } from "../lib/server/status.ts";
import { startServer, writeServerSetup } from "../harness/spa_server.ts";
import { createTopology, netnsSkipReason } from "../harness/topology.ts";
import { makeClientHome } from "../tests/e2e/_client_home.ts";
import { startFlood } from "./e2e/flooder.ts";
import { CpuWindow } from "./e2e/proc.ts";
import { percent, pps, sleep } from "./e2e/stats.ts";
import { RESULTS_PATH, writeSection } from "./section.ts";

const FIRST_TRY = ["--timeout", "1s", "--retries", "0"];
const BEGIN = "<!-- flood-resync:begin -->";
const END = "<!-- flood-resync:end -->";

interface Row {
  flood: string;
  target: string;
  offered: number | undefined;
  resyncs: [number, number];
  knocks: [number, number];
  cpu: number | undefined;
  dropped: number;
  tagFailures: number;
  valid: boolean;
}

const { values } = parseArgs({ options: { quick: { type: "boolean", default: false } } });
const TRIES = values.quick ? 3 : 5;
const RATES = values.quick ? [1_000, 100_000, 0] : [1_000, 10_000, 100_000, 0];
const WINDOW_S = 5 + TRIES * 2.5;

async function main(): Promise<number> {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.error(`bench:flood-resync skipped: ${skip}`);
    return 0;
  }
  await using topo = await createTopology(["server", "client", "flooder"]);
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
    idleTimeout: "2s",
  });
  await using home = await makeClientHome(setup, [{
    name: "web",
    address: topo.host("server").ipv4,
    user: "alice",
    port: 22,
    transport: "udp",
  }]);
  const server = await startServer(topo, setup);
  const pid = server.child.pid;
  const rows: Row[] = [];
  const sources = [
    { name: "one source", run: {} },
    { name: "4096 spoofed sources", run: { sources: 4096 } },
    { name: "spoofing the client", run: { source: topo.host("client").ipv4 } },
  ];
  /** The status file once the daemon has rewritten it after `since` (it does every 5 s). */
  const status = async (since = Date.now()): Promise<StatusFile | undefined> => {
    const deadline = Date.now() + 7_000;
    for (;;) {
      const s = await readStatus(setup.stateDir).catch(() => undefined);
      if ((s !== undefined && Date.parse(s.updatedAt) >= since) || Date.now() > deadline) return s;
      await sleep(200);
    }
  };
  const dropped = (s: StatusFile | undefined) =>
    s?.capture.reduce((sum, c) => sum + c.dropped + c.ifDropped, 0) ?? 0;
  const tries = async (): Promise<[[number, number], [number, number]]> => {
    let resyncs = 0;
    let knocks = 0;
    for (let i = 0; i < TRIES; i++) {
      if ((await home.run(topo, ["resync", "--host", "web", ...FIRST_TRY])).code === 0) resyncs++;
      if ((await home.run(topo, ["--host", "web", "--no-exec", ...FIRST_TRY])).code === 0) knocks++;
    }
    return [[resyncs, TRIES], [knocks, TRIES]];
  };
  try {
    // Warm up (and start in sync), then the baseline without a flood.
    await home.run(topo, ["resync", "--host", "web", ...FIRST_TRY]);
    {
      const cpu = await CpuWindow.start(pid);
      const [resyncs, knocks] = await tries();
      rows.push({
        flood: "none (baseline)",
        target: "–",
        offered: 0,
        resyncs,
        knocks,
        cpu: await cpu.end(),
        dropped: 0,
        tagFailures: 0,
        valid: true,
      });
    }
    for (const source of sources) {
      for (const rate of RATES) {
        const label = rate === 0 ? "max" : pps(rate);
        console.error(`flood-resync: ${source.name}, ${label}`);
        const before = await status();
        const started = performance.now();
        const flood = startFlood(topo, topo.host("flooder"), topo.host("server"), {
          kind: "forged",
          rate,
          seconds: WINDOW_S,
          port: 9,
          uid: 1000,
          batch: rate > 0 && rate <= 10_000 ? 8 : 256,
          ...source.run,
        });
        await sleep(1_000);
        const cpu = await CpuWindow.start(pid);
        const [resyncs, knocks] = await tries();
        const share = await cpu.end();
        const valid = performance.now() - started < WINDOW_S * 1000;
        const result = await flood.done;
        const after = await status();
        rows.push({
          flood: source.name,
          target: label,
          offered: result.rate,
          resyncs,
          knocks,
          cpu: share,
          dropped: dropped(after) - dropped(before),
          tagFailures: (after?.counters.tag ?? 0) - (before?.counters.tag ?? 0),
          valid,
        });
        await sleep(2_500); // let the last grant close before the next window
      }
    }
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    await Deno.remove(setup.dir, { recursive: true });
  }
  const table = render(rows);
  console.log(table);
  await writeSection("flood-resync", table);
  console.error(`wrote the flood-resync section of ${RESULTS_PATH}`);
  return 0;
}

function render(rows: Row[]): string {
  const cell = ([ok, of]: [number, number]) => `${ok}/${of}${ok === of ? "" : " **miss**"}`;
  const lines = [
    BEGIN,
    "",
    "## A user's resync and knock under forged-UID floods",
    "",
    `Written by \`deno task bench:flood-resync\` (\`bench/flood_resync.ts\`); ${
      new Date().toISOString().slice(0, 16)
    }Z.`,
    "",
    "Each row: a flood of 100-byte UDP packets whose trailer carries the user's UID and random sealed",
    "bytes (each costs the daemon its tag checks), from `bench/flood.ts` in the flooder namespace;",
    `1 s after it starts, ${rows[0]?.resyncs[1]} resyncs and ${
      rows[0]?.knocks[1]
    } knocks by \`spa-client\` (udp,`,
    "`--retries 0`: success means the first packet was answered). CPU is the daemon's, over the tries;",
    "drops are libpcap's; tag failures are the forged packets the daemon checked and refused.",
    "",
    "| flood from | rate asked | offered | resync, first try | knock, first try | daemon CPU | capture drops | tag failures |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.flood} | ${r.target} | ${r.offered === 0 ? "–" : pps(r.offered)}${
        r.valid ? "" : " (ended early)"
      } | ${cell(r.resyncs)} | ${cell(r.knocks)} | ${
        percent(r.cpu)
      } | ${r.dropped} | ${r.tagFailures} |`,
    );
  }
  lines.push("", END);
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await main());
