/**
 * `deno task bench:e2e`: spa against fwknop, side by side, in one run on one topology (issue 7).
 *
 * Builds its own namespaces (server, client, flooder on one bridge), a TCP service on port 22 in
 * the server namespace, and one prober process in the client namespace (`bench/e2e/prober.ts`).
 * Then, one daemon after the other (never both guarding the port): spa-server (nft), then fwknopd
 * (iptables-nft), each measured for knock→open latency, idle CPU, CPU under background traffic,
 * knocks honoured under a junk flood at rising rates, and peak memory. Writes `bench/RESULTS.md`
 * (one table) and the summary between the `bench:` markers of README.md, and tears everything
 * down. Needs root; installs nothing (Debian: fwknop-server fwknop-client iptables tcpdump
 * nftables iproute2 libpcap0.8) and skips with the reason when something is missing.
 *
 * ```sh
 * deno task bench:e2e             # ~5 minutes
 * deno task bench:e2e --quick     # ~1.5 minutes, fewer knocks and rates
 * deno task bench:e2e --profile /tmp/prof   # also write a V8 CPU profile of spa-server
 * deno task bench:e2e --server run          # spa-server by `deno run server.ts` instead of the bundle
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { startEcho } from "../harness/knocker.ts";
import { ROOT } from "../harness/spa_server.ts";
import { createTopology, type Topology } from "../harness/topology.ts";
import type { Contender } from "./e2e/contender.ts";
import { FWKNOP_PORT, startFwknop } from "./e2e/fwknop_side.ts";
import { describeMachine, skipReason } from "./e2e/machine.ts";
import {
  denoRuntimeRssMB,
  floodWindow,
  type Hosts,
  idleCpu,
  knockOnce,
  knockSeries,
  medianWallMs,
  peakRssMB,
  ringMB,
  spaVersionArgv,
} from "./e2e/measure.ts";
import { Prober } from "./e2e/prober.ts";
import { memoryKiB, memoryParts, statusKiB } from "./e2e/proc.ts";
import {
  formatMarkdown,
  renderResults,
  renderSummary,
  replaceBetweenMarkers,
} from "./e2e/report.ts";
import type { ContenderResults, RunResults } from "./e2e/results.ts";
import { SPA_UID, startSpa } from "./e2e/spa_side.ts";
import { bundleEntry } from "../scripts/bundle.ts";
import { sleep } from "./e2e/stats.ts";
import { RESULTS_PATH, writeHead } from "./section.ts";
import type { FloodKind } from "./e2e/flooder.ts";
import type { ServerBuild } from "./e2e/results.ts";

/** Sizes of a full and a quick run. */
const PLANS = {
  full: {
    knocks: 50,
    idleSeconds: 10,
    backgroundSeconds: 5,
    backgroundRates: [10_000, 100_000],
    floodRates: [500, 10_000, 50_000, 100_000, 0],
    floodKinds: ["random", "forged"] as FloodKind[],
    floodKnocks: 4,
    floodMinSeconds: 4,
  },
  quick: {
    knocks: 10,
    idleSeconds: 4,
    backgroundSeconds: 3,
    backgroundRates: [10_000, 100_000],
    floodRates: [10_000, 100_000, 0],
    floodKinds: ["random", "forged"] as FloodKind[],
    floodKnocks: 2,
    floodMinSeconds: 2,
  },
} as const;

/** A knock under flood is honoured when the port opens within this bound. */
const HONOUR_MS = 3_000;
/** Knock→open bound after the floods (fwknopd may still be draining its capture backlog). */
const RECOVERY_MS = 20_000;
/** Knock→open bound of the unloaded series. */
const SERIES_OPEN_MS = 3_000;
/** Background traffic goes to the discard port: no daemon's knock port. */
const BACKGROUND_PORT = 9;
const WARMUP_LIMIT = 5;
/** Client addresses fwknop knocks ask for in turn (see fwknop_side.ts). */
const FWKNOP_SOURCES = Array.from({ length: 100 }, (_, i) => `10.77.0.${100 + i}`);

const log = (line: string) => console.error(line);

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      profile: { type: "string" },
      server: { type: "string", default: "bundle" },
      "no-readme": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "usage: deno task bench:e2e [--quick] [--profile DIR] [--server bundle|run] [--no-readme]\n" +
        "  --quick       fewer knocks, rates and seconds (~1.5 min instead of ~5)\n" +
        "  --profile D   run spa-server under --cpu-prof, writing its profile into D\n" +
        "  --server B    bundle (default: the build deno task compile embeds) or run (deno run server.ts)\n" +
        "  --no-readme   write bench/RESULTS.md only, leave README.md alone",
    );
    return 0;
  }
  if (values.server !== "bundle" && values.server !== "run") {
    console.error(`Cannot run bench:e2e: --server is bundle or run, not ${values.server}`);
    return 2;
  }
  const serverBuild: ServerBuild = values.server;
  const reason = await skipReason();
  if (reason !== undefined) {
    console.log(`bench:e2e skipped: ${reason}`);
    return 0;
  }
  const plan = values.quick ? PLANS.quick : PLANS.full;
  const command = ["deno task bench:e2e", ...Deno.args].join(" ");
  const results: RunResults = {
    machine: await describeMachine(),
    command,
    quick: values.quick,
    knocksPerVariant: plan.knocks,
    honourMs: HONOUR_MS,
    recoveryMs: RECOVERY_MS,
    idleSeconds: plan.idleSeconds,
    denoRuntimeMB: await denoRuntimeRssMB(),
    spaColdStartMs: await medianWallMs(spaVersionArgv(), {}, 10),
    fwknopColdStartMs: await fwknopColdStart(),
    profileDir: values.profile,
    serverBuild,
    contenders: {},
  };
  if (values.profile !== undefined) await Deno.mkdir(values.profile, { recursive: true });
  log(`bench:e2e on ${results.machine.cores} cores, ${results.machine.cpu}`);

  await using topo = await createTopology(["server", "client", "flooder"]);
  const hosts: Hosts = {
    server: topo.host("server"),
    client: topo.host("client"),
    flooder: topo.host("flooder"),
  };
  for (const address of FWKNOP_SOURCES) {
    await topo.execOk("client", ["ip", "addr", "add", `${address}/24`, "dev", "eth0"]);
  }
  await startEcho(topo, "server", 22);
  await using prober = await Prober.start(topo, "client", hosts.server.ipv4, 22, hosts.client.ipv4);

  log(`spa: starting spa-server (nft, ${serverBuild === "bundle" ? "bundled" : "deno run"})`);
  const work = await Deno.makeTempDir({ prefix: "spa-bench-e2e-" });
  try {
    const entry = serverBuild === "bundle" ? `${work}/spa-server.js` : undefined;
    if (entry !== undefined) await bundleEntry("server.ts", entry);
    await using spa = await startSpa(topo, hosts.server.ipv4, {
      ...(values.profile === undefined ? {} : { cpuProfileDir: values.profile }),
      ...(entry === undefined ? {} : { entry }),
    });
    results.contenders.spa = await measureContender(topo, hosts, prober, spa, plan);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  log("fwknop: starting fwknopd (iptables)");
  {
    await using fwknop = await startFwknop(topo, hosts.server.ipv4, FWKNOP_SOURCES);
    results.contenders.fwknop = await measureContender(topo, hosts, prober, fwknop, plan);
  }

  const markdown = renderResults(results);
  // Keeps the sections the other benches (bench:flood-resync, bench:start, ...) write there.
  await writeHead(markdown);
  console.log(markdown);
  log(`wrote ${RESULTS_PATH}`);
  if (!values["no-readme"]) {
    const readme = `${ROOT}/README.md`;
    const text = await Deno.readTextFile(readme);
    const summary = (await formatMarkdown(renderSummary(results), ROOT)).trimEnd();
    await Deno.writeTextFile(readme, replaceBetweenMarkers(text, summary));
    log(`updated the bench section of ${readme}`);
  }
  return 0;
}

type Plan = (typeof PLANS)[keyof typeof PLANS];

async function measureContender(
  topo: Topology,
  hosts: Hosts,
  prober: Prober,
  contender: Contender,
  plan: Plan,
): Promise<ContenderResults> {
  const name = contender.name;
  // One unmeasured knock per variant first (fwknopd may miss a knock sent right after start).
  let warmupKnocks = 0;
  for (const variant of contender.variants) {
    for (let i = 0;; i++) {
      if (i === WARMUP_LIMIT) throw new Error(`Cannot warm up ${name}: no knock was honoured`);
      warmupKnocks++;
      const sample = await knockOnce(prober, contender, variant, 10_000 + i, SERIES_OPEN_MS);
      if (sample.openMs !== undefined) break;
    }
  }
  const startRss = await peakRssMB(contender.pid);
  log(`${name}: idle CPU over ${plan.idleSeconds} s`);
  await sleep(1000);
  const idle = await idleCpu(contender, plan.idleSeconds);

  log(`${name}: ${plan.knocks} knocks per variant (${contender.variants.join(", ")})`);
  const rssBefore = await statusKiB(contender.pid, "VmRSS");
  const knocks = await knockSeries(prober, contender, plan.knocks, SERIES_OPEN_MS, log);
  const rssGrowth = ((await statusKiB(contender.pid, "VmRSS")) - rssBefore) * 1.024 /
    knocks.length;

  const background = [];
  for (const rate of plan.backgroundRates) {
    log(`${name}: background traffic without trailers, ${rate} packets/s`);
    const w = await floodWindow(topo, hosts, prober, contender, {
      kind: "plain",
      rate,
      port: BACKGROUND_PORT,
      uid: SPA_UID,
      knocks: 0,
      minSeconds: plan.backgroundSeconds,
      openTimeoutMs: HONOUR_MS,
    });
    background.push({ rate, offered: w.offered, cpu: w.cpu, dropped: w.dropped });
    await sleep(500);
  }

  const floods = [];
  for (const rate of plan.floodRates) {
    for (const kind of plan.floodKinds) {
      log(`${name}: ${kind} junk flood to udp/${FLOOD_PORT} at ${rate === 0 ? "max" : rate} pps`);
      floods.push(
        await floodWindow(topo, hosts, prober, contender, {
          kind,
          rate,
          port: FLOOD_PORT,
          uid: SPA_UID,
          knocks: plan.floodKnocks,
          minSeconds: plan.floodMinSeconds,
          openTimeoutMs: HONOUR_MS,
        }),
      );
      await sleep(500);
    }
  }
  log(`${name}: a knock per variant after the floods (bound ${RECOVERY_MS / 1000} s)`);
  await sleep(2000);
  const recovery = [];
  for (const variant of contender.variants) {
    recovery.push(await knockOnce(prober, contender, variant, 20_000, RECOVERY_MS));
  }
  return {
    name,
    warmupKnocks,
    knocks,
    idleCpu: idle,
    background,
    floods,
    rssGrowthPerKnockKB: rssGrowth,
    startRssMB: startRss,
    peakRssMB: await peakRssMB(contender.pid),
    privateDirtyMB: (await memoryKiB(contender.pid)).privateDirty / 1024,
    ringMB: await ringMB(contender.pid),
    parts: await memoryParts(contender.pid),
    recovery,
  };
}

/** Both daemons capture this port (fwknopd's filter passes only it): the same flood for both. */
const FLOOD_PORT = FWKNOP_PORT;

async function fwknopColdStart(): Promise<number> {
  const home = await Deno.makeTempDir({ prefix: "spa-bench-fwknop-home-" });
  try {
    return await medianWallMs(["fwknop", "--version"], { HOME: home }, 10);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

if (import.meta.main) Deno.exit(await main());
