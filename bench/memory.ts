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
 *   issue 15 asks for 600).
 *
 * Writes its section of `bench/RESULTS.md` (between the `memory` markers).
 *
 * ```sh
 * deno task bench:memory                         # ~3 minutes
 * deno task bench:memory --knocks 2000 --idle 20
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MODULE_FLAGS } from "../lib/permissions.ts";
import { hex } from "../tests/netns/knocker.ts";
import { startServerWithEnv } from "../tests/server/_faults.ts";
import { writeServerSetup } from "../tests/netns/spa_server.ts";
import { createTopology, netnsSkipReason } from "../tests/netns/topology.ts";
import { CpuWindow, memoryKiB } from "./e2e/proc.ts";
import { sleep } from "./e2e/stats.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const BEGIN = "<!-- memory:begin -->";
const END = "<!-- memory:end -->";

const { values } = parseArgs({
  options: {
    knocks: { type: "string", default: "10000" },
    every: { type: "string", default: "500" },
    idle: { type: "string", default: "60" },
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

async function main(): Promise<number> {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.error(`bench:memory skipped: ${skip}`);
    return 0;
  }
  await using topo = await createTopology(["server", "client"]);
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
    idleTimeout: "2s",
  });
  const starts = await nftStartLog(setup.dir);
  const server = await startServerWithEnv(topo, setup, {
    PATH: starts.path,
    ...(Deno.env.get("MALLOC_ARENA_MAX")
      ? { MALLOC_ARENA_MAX: Deno.env.get("MALLOC_ARENA_MAX")! }
      : {}),
  });
  const pid = server.child.pid;
  const user = setup.users[0]!;
  const points: Point[] = [];
  let idle: { cpu: number; rssKiB: number; privateDirtyKiB: number; starts: number } | undefined;
  let knockStarts = 0;
  let resent = 0;
  let knockSeconds = 0;
  const afterStart = await memoryKiB(pid);
  try {
    await sleep(2_000);
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
    let buffer = "";
    for await (const chunk of loop.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let i: number;
      while ((i = buffer.indexOf("\n")) >= 0) {
        const match = /^knocks (\d+) (\d+) (\d+)$/.exec(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
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
          } MB (${point.seconds.toFixed(1)} s)`,
        );
      }
    }
    const status = await loop.status;
    if (!status.success) throw new Error(`Cannot run the knock loop: exit ${status.code}`);
    knockSeconds = points.at(-1)?.seconds ?? 0;
    knockStarts = (await starts.count()) - before;
    // Idle: the grant closes (idle timeout 2 s), then nothing happens for IDLE_S.
    await sleep(5_000);
    const idleBefore = await starts.count();
    const window = await CpuWindow.start(pid);
    await sleep(IDLE_S * 1000);
    const cpu = await window.end();
    const memory = await memoryKiB(pid);
    idle = {
      cpu,
      rssKiB: memory.rss,
      privateDirtyKiB: memory.privateDirty,
      starts: (await starts.count()) - idleBefore,
    };
  } finally {
    server.kill("SIGTERM");
    await server.exited;
  }
  await Deno.remove(setup.dir, { recursive: true });
  const section = render(points, {
    afterStart,
    idle: idle!,
    knockStarts,
    knockSeconds,
    resent,
  });
  console.log(section);
  if (!values["no-write"]) {
    const path = `${ROOT}/bench/RESULTS.md`;
    await Deno.writeTextFile(path, withSection(await Deno.readTextFile(path), section));
    console.error(`wrote the memory section of ${path}`);
  }
  return 0;
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

function mb(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function render(
  points: Point[],
  extra: {
    afterStart: { rss: number; privateDirty: number };
    idle: { cpu: number; rssKiB: number; privateDirtyKiB: number; starts: number };
    knockStarts: number;
    knockSeconds: number;
    resent: number;
  },
): string {
  const at1000 = points.find((p) => p.knocks === 1000);
  const last = points.at(-1);
  const growth = at1000 !== undefined && last !== undefined
    ? (last.rssKiB - at1000.rssKiB) / 1024
    : NaN;
  const lines = [
    BEGIN,
    "",
    "## The daemon over 10,000 knocks, then idle",
    "",
    `Written by \`deno task bench:memory\` (\`bench/memory.ts\`); ${
      new Date().toISOString().slice(0, 16)
    }Z. One user knocks over UDP, one knock after the other (each sealed under its own number,`,
    "acked and verified); the daemon's RSS and private dirty memory (smaps_rollup) every " +
    `${EVERY} knocks. Its \`nft\` is a wrapper that logs each start.`,
    "",
    `- after start: RSS ${mb(extra.afterStart.rss)} MB, private dirty ${
      mb(extra.afterStart.privateDirty)
    } MB`,
    `- ${last?.knocks ?? 0} knocks in ${extra.knockSeconds.toFixed(1)} s (${
      Math.round((last?.knocks ?? 0) / (extra.knockSeconds || 1))
    }/s), ${extra.resent} resent; nft processes started during them: ${extra.knockStarts}`,
    `- RSS after the last knock − RSS after 1,000: ${growth.toFixed(1)} MB (target ≤ 5 MB: ${
      Math.abs(growth) <= 5 ? "pass" : "**miss**"
    })`,
    `- idle ${IDLE_S} s afterwards: CPU ${(extra.idle.cpu * 100).toFixed(2)} % of one core, RSS ${
      mb(extra.idle.rssKiB)
    } MB, private dirty ${
      mb(extra.idle.privateDirtyKiB)
    } MB, nft processes started: ${extra.idle.starts}`,
    "",
    "| knocks | seconds | RSS, MB | private dirty, MB |",
    "| --- | --- | --- | --- |",
    ...points.map((p) =>
      `| ${p.knocks} | ${p.seconds.toFixed(1)} | ${mb(p.rssKiB)} | ${mb(p.privateDirtyKiB)} |`
    ),
    "",
    END,
  ];
  return lines.join("\n");
}

function withSection(text: string, section: string): string {
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin < 0 || end < begin) return `${text.trimEnd()}\n\n${section}\n`;
  return `${text.slice(0, begin)}${section}${text.slice(end + END.length)}`;
}

if (import.meta.main) Deno.exit(await main());
