/**
 * `deno task bench:memory`: the daemon stays lean (issue 15, goals 2–4). In namespaces, one
 * spa-server (nft firewall) and one user who knocks over UDP one knock after the other
 * (`bench/memory/knock_loop.ts`: real knocks, each sealed under its own number, acked and
 * verified). Prints and records:
 *
 * - the RSS curve (and private dirty memory, from smaps_rollup) every `--every` knocks up to
 *   `--knocks` (default 10,000), and the difference between the last point and the one at 1,000;
 * - the processes the daemon starts: its `nft` is a wrapper first on its PATH that logs every start
 *   (then execs the real nft), so the count is exact, over the knocks and over an idle period;
 * - idle CPU, RSS and private dirty memory after `--idle` seconds without a knock (default 60;
 *   issue 15 asks for 600);
 * - what the RSS is made of after start and after the last knock (`memoryParts` in
 *   `bench/e2e/proc.ts`: the Deno binary's pages, libraries, the capture ring, malloc's main heap
 *   and thread arenas, other anonymous memory, threads).
 *
 * Each of `--variants` gets a fresh daemon: `run` (`deno run server.ts`, as the tests run it),
 * `bundle` (a `deno bundle` build with the same flags: `deno compile` cannot run here) and `unit`
 * (that build with the `Environment=` settings of `packaging/spa-server.service`). Settings to try
 * without editing code pass through from this process's `MALLOC_ARENA_MAX` and `DENO_V8_FLAGS`.
 *
 * Writes its section of `bench/RESULTS.md` (between the `memory` markers).
 *
 * ```sh
 * deno task bench:memory                         # ~6 minutes
 * deno task bench:memory --knocks 2000 --idle 20 --variants run --no-write
 * deno task bench:memory --knocks 2000 --idle 5 --variants run --v8=--max-opt=2 --no-write
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MODULE_FLAGS } from "../lib/permissions.ts";
import { hex } from "../harness/knocker.ts";
import { ROOT, startServer, writeServerSetup } from "../harness/spa_server.ts";
import { createTopology, netnsSkipReason } from "../harness/topology.ts";
import {
  CpuWindow,
  formatParts,
  lines,
  type MappingShare,
  memoryKiB,
  type MemoryParts,
  memoryParts,
  statusKiB,
} from "./e2e/proc.ts";
import { bundleEntry } from "../scripts/bundle.ts";
import { sleep } from "./e2e/stats.ts";
import { loadAverage, RESULTS_PATH, writeSection } from "./section.ts";

const BEGIN = "<!-- memory:begin -->";
const END = "<!-- memory:end -->";

const { values } = parseArgs({
  options: {
    knocks: { type: "string", default: "10000" },
    every: { type: "string", default: "500" },
    idle: { type: "string", default: "60" },
    variants: { type: "string", default: "run,bundle,unit" },
    // V8 settings to try on the daemon alone (its DENO_V8_FLAGS; the knock loop keeps its own).
    v8: { type: "string", default: "" },
    "no-write": { type: "boolean", default: false },
  },
});
const KNOCKS = Number(values.knocks);
const EVERY = Number(values.every);
const IDLE_S = Number(values.idle);

interface Point {
  knocks: number;
  seconds: number;
  rssKiB: number;
  privateDirtyKiB: number;
}

/**
 * How the daemon is started: as the tests and the demo do (`run`), from a `deno bundle` build
 * (`bundle`), or from the bundle with the environment the systemd unit sets (`unit`: the closest
 * to the shipped binary under `packaging/spa-server.service`).
 */
type Variant = "run" | "bundle" | "unit";

/** What one daemon did over the knocks and the idle period. */
interface Measured {
  variant: Variant;
  points: Point[];
  afterStart: { rss: number; privateDirty: number };
  startParts: MemoryParts;
  lastParts: MemoryParts;
  peakKiB: number;
  idle: { cpu: number; rssKiB: number; privateDirtyKiB: number; starts: number };
  knockStarts: number;
  knockSeconds: number;
  resent: number;
}

async function main(): Promise<number> {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.error(`bench:memory skipped: ${skip}`);
    return 0;
  }
  const variants = values.variants.split(",") as Variant[];
  const work = await Deno.makeTempDir({ prefix: "spa-bench-memory-" });
  const results: Measured[] = [];
  try {
    let entry: string | undefined;
    if (variants.includes("bundle") || variants.includes("unit")) {
      entry = `${work}/spa-server.js`;
      await bundleEntry("server.ts", entry);
    }
    for (const variant of variants) {
      console.log(`-- spa-server, ${label(variant)}`);
      results.push(await measure(variant, variant === "run" ? undefined : entry));
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const section = render(results);
  console.log(section);
  if (!values["no-write"]) {
    await writeSection("memory", section);
    console.error(`wrote the memory section of ${RESULTS_PATH}`);
  }
  return 0;
}

async function measure(variant: Variant, entry: string | undefined): Promise<Measured> {
  await using topo = await createTopology(["server", "client"]);
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
    idleTimeout: "2s",
  });
  const starts = await nftStartLog(setup.dir);
  const server = await startServer(topo, setup, {
    env: {
      PATH: starts.path,
      ...(variant === "unit" ? await unitEnvironment() : {}),
      ...passedEnv(),
      ...(values.v8 !== "" ? { DENO_V8_FLAGS: values.v8 } : {}),
    },
    ...(entry !== undefined ? { entry } : {}),
  });
  const pid = server.child.pid;
  const user = setup.users[0]!;
  const points: Point[] = [];
  let resent = 0;
  try {
    await sleep(2_000);
    const afterStart = await memoryKiB(pid);
    const startParts = await memoryParts(pid);
    console.log(`after start: ${formatParts(startParts)}`);
    const before = await starts.count();
    const loop = topo.spawn("client", [
      Deno.execPath(),
      "run",
      ...MODULE_FLAGS,
      "-A",
      "--unstable-net",
      `${ROOT}/bench/memory/knock_loop.ts`,
      "--setup",
      JSON.stringify({ ...user, secret: hex(user.secret) }),
      "--server",
      topo.host("server").ipv4,
      "--count",
      String(KNOCKS),
      "--every",
      String(EVERY),
    ], { stdout: "piped", stderr: "inherit" });
    for await (const line of lines(loop.stdout)) {
      const match = /^knocks (\d+) (\d+) (\d+)$/.exec(line);
      if (match === null) continue;
      const memory = await memoryKiB(pid);
      const point = {
        knocks: Number(match[1]),
        seconds: Number(match[2]) / 1000,
        rssKiB: memory.rss,
        privateDirtyKiB: memory.privateDirty,
      };
      resent = Number(match[3]);
      points.push(point);
      console.log(
        `knocks ${point.knocks}: RSS ${mb(point.rssKiB)} MB, private dirty ${
          mb(point.privateDirtyKiB)
        } MB (${point.seconds.toFixed(1)} s); ${formatParts(await memoryParts(pid))}`,
      );
    }
    const status = await loop.status;
    if (!status.success) throw new Error(`Cannot run the knock loop: exit ${status.code}`);
    const lastParts = await memoryParts(pid);
    const knockStarts = (await starts.count()) - before;
    // Idle: the grant closes (idle timeout 2 s), then nothing happens for IDLE_S.
    await sleep(5_000);
    const idleBefore = await starts.count();
    const window = await CpuWindow.start(pid);
    await sleep(IDLE_S * 1000);
    const cpu = await window.end();
    const memory = await memoryKiB(pid);
    return {
      variant,
      points,
      afterStart,
      startParts,
      lastParts,
      peakKiB: await statusKiB(pid, "VmHWM"),
      idle: {
        cpu,
        rssKiB: memory.rss,
        privateDirtyKiB: memory.privateDirty,
        starts: (await starts.count()) - idleBefore,
      },
      knockStarts,
      knockSeconds: points.at(-1)?.seconds ?? 0,
      resent,
    };
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    await Deno.remove(setup.dir, { recursive: true });
  }
}

/** An `nft` wrapper that logs every start, then execs the real nft. */
async function nftStartLog(dir: string): Promise<{ path: string; count(): Promise<number> }> {
  const real = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (real === undefined) throw new Error("Cannot find nft");
  await Deno.mkdir(`${dir}/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/bin/nft`,
    `#!/bin/sh\necho "$*" >> "${dir}/nft-starts"\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  await Deno.writeTextFile(`${dir}/nft-starts`, "");
  return {
    path: `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    count: async () =>
      (await Deno.readTextFile(`${dir}/nft-starts`)).split("\n").filter((l) => l !== "").length,
  };
}

/** Settings to try on the daemon without editing the code: glibc's and V8's, from this env. */
function passedEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["MALLOC_ARENA_MAX", "DENO_V8_FLAGS"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

function mb(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function label(variant: Variant): string {
  return variant === "run"
    ? "`deno run server.ts`"
    : variant === "bundle"
    ? "`deno bundle` build"
    : "`deno bundle` build, the unit's environment";
}

/** The `Environment=` settings of the shipped systemd unit. */
async function unitEnvironment(): Promise<Record<string, string>> {
  const unit = await Deno.readTextFile(`${ROOT}/packaging/spa-server.service`);
  const env: Record<string, string> = {};
  for (const match of unit.matchAll(/^Environment=(\w+)=(\S*)$/gm)) env[match[1]!] = match[2]!;
  return env;
}

/** RSS after the last knock minus RSS after 1,000 (the issue's measure of flatness), in MB. */
function growthMB(points: Point[], field: "rssKiB" | "privateDirtyKiB"): number {
  const at1000 = points.find((p) => p.knocks === 1000);
  const last = points.at(-1);
  return at1000 !== undefined && last !== undefined && last !== at1000
    ? (last[field] - at1000[field]) / 1024
    : NaN;
}

function render(results: Measured[]): string {
  const lines = [
    BEGIN,
    "",
    "## The daemon over 10,000 knocks, then idle",
    "",
    `Written by \`deno task bench:memory\` (\`bench/memory.ts\`); ${
      new Date().toISOString().slice(0, 16)
    }Z; load average ${loadAverage()}. One user knocks over UDP, one knock after the other (each`,
    "sealed under its own number, acked and verified); the daemon's RSS and private dirty memory",
    `(smaps_rollup) every ${EVERY} knocks. Its \`nft\` is a wrapper that logs each start. The`,
    "daemon runs as the tests run it (`deno run server.ts`, `serverFlags()`) and, with the same",
    "flags, from a `deno bundle` build (one JavaScript file: no TypeScript, no npm resolution),",
    "the closer of the two to the shipped binary, and that build again with the `Environment=` of",
    "`packaging/spa-server.service`.",
    "",
  ];
  for (const r of results) {
    const last = r.points.at(-1);
    const growth = growthMB(r.points, "rssKiB");
    lines.push(
      `- ${label(r.variant)}: after start RSS ${mb(r.afterStart.rss)} MB (private dirty ${
        mb(r.afterStart.privateDirty)
      }); ${last?.knocks ?? 0} knocks in ${r.knockSeconds.toFixed(1)} s (${
        Math.round((last?.knocks ?? 0) / (r.knockSeconds || 1))
      }/s), ${r.resent} resent, nft processes started: ${r.knockStarts}; RSS after the last knock − ` +
        `after 1,000: ${
          Number.isNaN(growth)
            ? "n/a (no point after 1,000 knocks)"
            : `**${growth.toFixed(1)} MB** (private dirty ${
              growthMB(r.points, "privateDirtyKiB").toFixed(1)
            }; target ≤ 5 MB: ${Math.abs(growth) <= 5 ? "pass" : "**miss**"})`
        }; peak RSS ${mb(r.peakKiB)} MB; idle ${IDLE_S} s afterwards: CPU ${
          (r.idle.cpu * 100).toFixed(2)
        } % of one core, RSS ${mb(r.idle.rssKiB)} MB, private dirty ${
          mb(r.idle.privateDirtyKiB)
        } MB, nft processes started: ${r.idle.starts}`,
    );
  }
  lines.push(
    "",
    `| knocks | ${
      results.map((r) => `${label(r.variant)}: RSS / private dirty, MB`).join(" | ")
    } |`,
    `| --- | ${results.map(() => "---").join(" | ")} |`,
  );
  const counts = [...new Set(results.flatMap((r) => r.points.map((p) => p.knocks)))];
  for (const knocks of counts) {
    const cells = results.map((r) => {
      const p = r.points.find((q) => q.knocks === knocks);
      return p === undefined ? "–" : `${mb(p.rssKiB)} / ${mb(p.privateDirtyKiB)}`;
    });
    lines.push(`| ${knocks} | ${cells.join(" | ")} |`);
  }
  lines.push(
    "",
    "What the RSS is made of (`/proc/<pid>/smaps`, RSS / private dirty in MB): the Deno binary's",
    "own pages are file-backed, clean and shared with every other Deno process (spa-server gives",
    "back the ones loading its modules and its start touched, `ffi/program_pages.ts`, so this column",
    "is what it touched since); the capture ring is a packet-socket mapping; malloc is the main arena",
    "(`[heap]`) plus the 64 MiB arenas glibc gives threads; the rest of the anonymous memory is",
    "mostly V8's heap and code, and thread stacks.",
    "",
    "| daemon | when | Deno binary | libraries | capture ring | malloc, main | malloc, thread arenas | other anonymous | threads |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const r of results) {
    for (
      const [when, parts] of [["after start", r.startParts], ["last knock", r.lastParts]] as const
    ) {
      const cell = (s: MappingShare) => `${mb(s.rss)} / ${mb(s.privateDirty)}`;
      lines.push(
        `| ${label(r.variant)} | ${when} | ${cell(parts.binary)} | ${cell(parts.libraries)} | ${
          cell(parts.ring)
        } | ${cell(parts.heap)} | ${cell(parts.arenas)} | ${
          cell(parts.anonymous)
        } | ${parts.threads} |`,
      );
    }
  }
  lines.push("", END);
  return lines.join("\n");
}

if (import.meta.main) Deno.exit(await main());
