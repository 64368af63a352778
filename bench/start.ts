/**
 * `deno task bench:start`: client start → knock on the wire, spa-client (syn, udp; `deno run` as
 * shipped and a `deno bundle` build) against a hello-world `deno run` (the floor: its exit time)
 * and fwknop's client, in one run, in namespaces; also knock→open against fwknop. Writes its
 * section of bench/RESULTS.md (between `<!-- start:begin -->` and `<!-- start:end -->`).
 *
 * ```sh
 * deno task bench:start [--knocks N]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MODULE_FLAGS } from "../lib/permissions.ts";
import { startEcho } from "../tests/netns/knocker.ts";
import { ROOT } from "../tests/netns/spa_server.ts";
import { createTopology } from "../tests/netns/topology.ts";
import type { Contender } from "./e2e/contender.ts";
import { startFwknop } from "./e2e/fwknop_side.ts";
import { describeMachine, skipReason } from "./e2e/machine.ts";
import { knockOnce, type KnockSample } from "./e2e/measure.ts";
import { Prober, type ProbeRequest } from "./e2e/prober.ts";
import { startSpa } from "./e2e/spa_side.ts";
import { ms, summarize } from "./e2e/stats.ts";

const FWKNOP_SOURCES = Array.from({ length: 50 }, (_, i) => `10.77.0.${100 + i}`);
const OPEN_MS = 3_000;
const log = (line: string) => console.error(line);

/** A contender whose client is started from another file (the bundle). */
function withEntry(contender: Contender, entry: string): Contender {
  return new Proxy(contender, {
    get(target, key) {
      if (key !== "knock") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (variant: string, openMs: number, source: string | undefined): ProbeRequest => {
        const request = target.knock(variant, openMs, source);
        if (request.op !== "knock") return request;
        return { ...request, argv: request.argv.map((a) => a === `${ROOT}/client.ts` ? entry : a) };
      };
    },
  });
}

async function bundle(entry: string, out: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    // `deno bundle` takes no --cached-only; --frozen and --no-remote keep it offline.
    args: ["bundle", "--frozen", "--no-remote", "--quiet", "-o", out, `${ROOT}/${entry}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`Cannot bundle ${entry}: ${new TextDecoder().decode(result.stderr)}`);
  }
}

interface Row {
  label: string;
  wire: number[];
  open: number[];
  exit: number[];
}

async function series(
  prober: Prober,
  contender: Contender,
  variant: string,
  count: number,
): Promise<Omit<Row, "label">> {
  const samples: KnockSample[] = [];
  await knockOnce(prober, contender, variant, 0, OPEN_MS); // warm-up, unmeasured
  for (let i = 1; i <= count; i++) {
    samples.push(await knockOnce(prober, contender, variant, i, OPEN_MS));
  }
  const failed = samples.filter((s) => s.failure !== undefined || s.openMs === undefined);
  if (failed.length > 0) {
    log(`${contender.name} ${variant}: ${failed.length} failed: ${failed[0]!.failure}`);
  }
  return {
    wire: samples.flatMap((s) => s.wireMs ?? []),
    open: samples.flatMap((s) => s.openMs ?? []),
    exit: samples.flatMap((s) => s.clientMs ?? []),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: { knocks: { type: "string", default: "20" } },
  });
  const count = Number(values.knocks);
  const reason = await skipReason();
  if (reason !== undefined) {
    console.log(`bench:start skipped: ${reason}`);
    return 0;
  }
  const machine = await describeMachine();
  const work = await Deno.makeTempDir({ prefix: "spa-bench-start-" });
  const rows: Row[] = [];
  try {
    const clientBundle = `${work}/spa-client.js`;
    await bundle("client.ts", clientBundle);
    await using topo = await createTopology(["server", "client"]);
    const server = topo.host("server");
    for (const address of FWKNOP_SOURCES) {
      await topo.execOk("client", ["ip", "addr", "add", `${address}/24`, "dev", "eth0"]);
    }
    await startEcho(topo, "server", 22);
    await using prober = await Prober.start(
      topo,
      "client",
      server.ipv4,
      22,
      topo.host("client").ipv4,
    );

    log("floor: hello-world deno run");
    const floor: number[] = [];
    for (let i = 0; i <= count; i++) {
      const r = await prober.request({
        op: "knock",
        argv: [Deno.execPath(), "run", ...MODULE_FLAGS, `${ROOT}/bench/e2e/hello.ts`],
        openTimeoutMs: 1,
        clientTimeoutMs: 10_000,
      });
      if (i > 0 && r.clientMs !== null) floor.push(r.clientMs);
    }
    rows.push({
      label: "hello-world `deno run` (the floor: its exit)",
      wire: [],
      open: [],
      exit: floor,
    });
    {
      await using spa = await startSpa(topo, server.ipv4);
      const bundled = withEntry(spa, clientBundle);
      for (const variant of ["syn", "udp"]) {
        log(`spa ${variant}: ${count} knocks, deno run`);
        rows.push({
          label: `spa-client ${variant}, \`deno run\``,
          ...await series(prober, spa, variant, count),
        });
        log(`spa ${variant}: ${count} knocks, deno bundle`);
        rows.push({
          label: `spa-client ${variant}, \`deno bundle\``,
          ...await series(prober, bundled, variant, count),
        });
      }
    }
    {
      await using fwknop = await startFwknop(topo, server.ipv4, FWKNOP_SOURCES);
      log(`fwknop: ${count} knocks`);
      rows.push({ label: "fwknop client (udp)", ...await series(prober, fwknop, "udp", count) });
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  const floorP50 = summarize(rows[0]!.exit)?.p50;
  const fwknopOpen = summarize(rows.at(-1)!.open)?.p50;
  const lines = [
    "<!-- start:begin -->",
    "",
    "## Client start → knock on the wire (`deno task bench:start`)",
    "",
    `- date: ${
      new Date().toISOString().slice(0, 19)
    }Z; machine: ${machine.cores} cores, ${machine.cpu}; ${count} knocks per row after one unmeasured`,
    "- spa-client runs as shipped (`deno run` with `clientFlags()` of lib/permissions.ts); the bundle is `deno bundle client.ts` run with the same flags.",
    "- wire: the prober's libpcap timestamp of the knock leaving the client's eth0, from the client's spawn; open: the first completed connect to the protected port.",
    "",
    "| client | start → wire, ms (min / p50) | ÷ floor (p50) | start → open, ms (min / p50) | ÷ fwknop (p50) | exit, ms p50 |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) => {
      const wire = summarize(row.wire);
      const open = summarize(row.open);
      const exit = summarize(row.exit);
      const div = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? "" : `${(a / b).toFixed(2)}×`;
      return `| ${row.label} | ${wire ? `${ms(wire.min)} / ${ms(wire.p50)}` : ""} | ${
        div(wire?.p50, floorP50)
      } | ${open ? `${ms(open.min)} / ${ms(open.p50)}` : ""} | ${div(open?.p50, fwknopOpen)} | ${
        ms(exit?.p50)
      } |`;
    }),
    "",
    ...goals(rows, floorP50, fwknopOpen),
    "",
    "<!-- start:end -->",
  ];
  const section = lines.join("\n");
  console.log(section);
  const path = `${ROOT}/bench/RESULTS.md`;
  const previous = await Deno.readTextFile(path).catch(() => "");
  const marked = /<!-- start:begin -->[\s\S]*<!-- start:end -->/;
  await Deno.writeTextFile(
    path,
    marked.test(previous)
      ? previous.replace(marked, section)
      : `${previous.trimEnd()}\n\n${section}\n`,
  );
  log(`wrote ${path}`);
  return 0;
}

/** The issue's two goals for each spa row: start → wire ≤ 1.5× the floor, start → open ≤ 0.5× fwknop. */
function goals(rows: Row[], floor: number | undefined, fwknop: number | undefined): string[] {
  return rows.filter((row) => row.label.startsWith("spa-client")).map((row) => {
    const wire = summarize(row.wire)?.p50;
    const open = summarize(row.open)?.p50;
    const met = (value: number | undefined, bound: number | undefined) =>
      value === undefined || bound === undefined ? "n/a" : value <= bound ? "pass" : "**miss**";
    return `- ${row.label}: start → wire ≤ 1.5× the floor: ${
      met(wire, floor === undefined ? undefined : 1.5 * floor)
    }; knock→open ≤ 0.5× fwknop's: ${met(open, fwknop === undefined ? undefined : 0.5 * fwknop)}`;
  });
}

if (import.meta.main) Deno.exit(await main());
