/**
 * `deno task bench:start`: client start → knock on the wire, spa-client (syn, udp; `deno run
 * client.ts` and the shipped build: the `deno bundle` file `deno task compile` embeds in the
 * binary, built by the same function, scripts/bundle.ts, and run with `deno run` since `deno
 * compile` cannot run here) against a hello-world `deno run` (the floor: its exit time)
 * and fwknop's client, in one run, in namespaces; also knock→open against fwknop. Writes its
 * section of bench/RESULTS.md (between `<!-- start:begin -->` and `<!-- start:end -->`).
 *
 * Two more kinds of row split the gap between the floor and the knock on the wire, in the same
 * run: `spa-client --version` (start → exit: the runtime, loading and evaluating the client's
 * modules, parsing the command line; no knock work), and a knock whose state folder is on a tmpfs
 * (`XDG_STATE_HOME`), where the durable save before the send costs no disk flush. The section
 * also counts the modules a knock loads (`deno info --json`, static imports plus the transport's).
 * The spa rows take turns knock by knock, and the baselines are sampled after each round, so a
 * shared machine's changing load falls on every row alike.
 *
 * ```sh
 * deno task bench:start [--knocks N]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { MODULE_FLAGS } from "../lib/permissions.ts";
import { hostFileStem } from "../lib/state/client_store.ts";
import { startEcho } from "../harness/knocker.ts";
import { ROOT } from "../harness/spa_server.ts";
import { bundleEntry } from "../scripts/bundle.ts";
import { RESULTS_PATH, writeSection } from "./section.ts";
import { createTopology } from "../harness/topology.ts";
import type { Contender } from "./e2e/contender.ts";
import { startFwknop } from "./e2e/fwknop_side.ts";
import { describeMachine, skipReason } from "./e2e/machine.ts";
import { knockOnce, type KnockSample } from "./e2e/measure.ts";
import { Prober, type ProbeRequest } from "./e2e/prober.ts";
import { spaClientArgv, startSpa } from "./e2e/spa_side.ts";
import { ms, summarize } from "./e2e/stats.ts";

const FWKNOP_SOURCES = Array.from({ length: 50 }, (_, i) => `10.77.0.${100 + i}`);
const OPEN_MS = 3_000;
const log = (line: string) => console.error(line);

/** The host name bench/e2e/spa_side.ts writes into the client's config. */
const SPA_HOST = "bench";

/** A contender whose client is started from another file (the bundle) and, if given, `env`. */
function withEntry(
  contender: Contender,
  entry: string,
  env: Record<string, string> = {},
): Contender {
  return new Proxy(contender, {
    get(target, key) {
      if (key !== "knock") {
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (variant: string, openMs: number, source: string | undefined): ProbeRequest => {
        const request = target.knock(variant, openMs, source);
        if (request.op !== "knock") return request;
        return {
          ...request,
          argv: request.argv.map((a) => a === `${ROOT}/client.ts` ? entry : a),
          env: { ...request.env, ...env },
        };
      };
    },
  });
}

const FLOOR_LABEL = "hello-world `deno run` (the floor: its exit)";
/** How the rows name the two builds: `deno run client.ts`, and the shipped build. */
const RUN = "`deno run`";
const SHIPPED = "shipped build (`deno bundle`)";
const TMPFS_LABEL = `spa-client udp, ${SHIPPED}, state folder on a tmpfs`;

/**
 * Mounts a small tmpfs at `dir` (Deno refuses the client's flags access to /dev/shm); false when
 * the mount fails, and the tmpfs row is left out. The tmpfs row's clients see it only if it is
 * mounted before the prober's namespace is made.
 */
async function mountTmpfs(dir: string): Promise<boolean> {
  await Deno.mkdir(dir, { recursive: true });
  const result = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output();
  return result.success;
}

/**
 * Wraps a knock so it runs with the client's state folder (`XDG_STATE_HOME`) on the tmpfs at
 * `tmpfs`: the host's state file is copied there before and back after every knock, so these
 * knocks, interleaved with the others, continue the same sequence numbers.
 */
async function onTmpfs(
  spa: Contender,
  tmpfs: string,
): Promise<(knock: () => Promise<KnockSample>) => Promise<KnockSample>> {
  const request = spa.knock("udp", 0, undefined);
  const home = request.op === "knock" ? request.env?.HOME : undefined;
  if (home === undefined) throw new Error("Cannot find the client's home: no HOME in its env");
  const stateFile = (stateHome: string) => `${stateHome}/spa/hosts/${hostFileStem(SPA_HOST)}.json`;
  await Deno.mkdir(`${tmpfs}/spa/hosts`, { recursive: true, mode: 0o700 });
  return async (knock) => {
    await Deno.copyFile(stateFile(`${home}/.local/state`), stateFile(tmpfs));
    try {
      return await knock();
    } finally {
      await Deno.copyFile(stateFile(tmpfs), stateFile(`${home}/.local/state`));
    }
  };
}

interface Row {
  label: string;
  /** For a baseline row: what is started (its exit is measured). */
  argv?: string[];
  /** For a baseline row: more environment for it. */
  env?: Record<string, string>;
  wire: number[];
  open: number[];
  exit: number[];
}

/**
 * The project's modules `deno run client.ts` loads for a knock over `transport`: the static import
 * graph (`deno info --json`, dynamic imports left out) plus the transport's module and its graph;
 * and whether an npm package (smol-toml, several files of its own) is among them.
 */
async function knockModules(transport: string): Promise<{ own: number; npm: boolean }> {
  const seen = new Set<string>();
  for (const entry of ["client.ts", `lib/client/${transport}_transport.ts`]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", entry],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output();
    const graph = JSON.parse(new TextDecoder().decode(out.stdout)) as {
      roots: string[];
      modules: {
        specifier: string;
        dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
      }[];
    };
    const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
    const walk = (specifier: string) => {
      if (seen.has(specifier)) return;
      seen.add(specifier);
      for (const dep of bySpecifier.get(specifier)?.dependencies ?? []) {
        if (!dep.isDynamic && dep.code?.specifier !== undefined) walk(dep.code.specifier);
      }
    };
    walk(graph.roots[0]!);
  }
  const npm = [...seen].filter((s) => s.includes("/node_modules/"));
  return { own: seen.size - npm.length, npm: npm.length > 0 };
}

/** Start → exit of `argv` (no knock), in ms; undefined when it did not end in time. */
async function exitOf(
  prober: Prober,
  argv: string[],
  env?: Record<string, string>,
): Promise<number | undefined> {
  const r = await prober.request({
    op: "knock",
    argv,
    ...(env === undefined ? {} : { env }),
    openTimeoutMs: 1,
    clientTimeoutMs: 10_000,
  });
  return r.clientMs ?? undefined;
}

/** One row of knocks in {@linkcode interleaved}. */
interface Lane {
  label: string;
  contender: Contender;
  variant: string;
  /** Runs around each knock of the lane (e.g. moves the state folder). */
  around?: (knock: () => Promise<KnockSample>) => Promise<KnockSample>;
}

/**
 * Knocks `count` times per lane (after one unmeasured each), one knock of every lane in turn, then
 * `between()`: so every row sees the same stretch of a shared machine's load.
 */
async function interleaved(
  prober: Prober,
  lanes: Lane[],
  count: number,
  between: (measured: boolean) => Promise<unknown>,
): Promise<Row[]> {
  const samples: KnockSample[][] = lanes.map(() => []);
  for (let i = 0; i <= count; i++) {
    for (const [n, lane] of lanes.entries()) {
      const knock = () => knockOnce(prober, lane.contender, lane.variant, i, OPEN_MS);
      const sample = await (lane.around === undefined ? knock() : lane.around(knock));
      if (i > 0) samples[n]!.push(sample);
    }
    await between(i > 0);
  }
  return lanes.map((lane, n) => rowOf(lane.label, samples[n]!));
}

function rowOf(label: string, samples: KnockSample[]): Row {
  const failed = samples.filter((s) => s.failure !== undefined || s.openMs === undefined);
  if (failed.length > 0) log(`${label}: ${failed.length} failed: ${failed[0]!.failure}`);
  return {
    label,
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
  const clientCache = `${work}/deno-dir`;
  const cacheEnv = { DENO_DIR: clientCache };
  const rows: Row[] = [];
  const tmpfs = `${work}/tmpfs`;
  let mounted = false;
  try {
    // Mounted before the namespaces exist: the prober's mount namespace is a copy made when it
    // starts, and a later mount in this one would not reach the clients it spawns.
    mounted = await mountTmpfs(tmpfs);
    // Every spa-client run (knocks and `--version`) uses a Deno folder of its own, empty at the
    // start: Deno never rewrites a module's V8 code cache entry once made (no write to it after the
    // first run, seen with strace), so in the shared folder it holds whatever the first process
    // that ran the module compiled (a test, the daemon, other V8 flags), not what the client's
    // flags compile, as in a shipped binary's own cache. The unmeasured first round fills it.
    await Deno.mkdir(clientCache);
    const clientBundle = `${work}/spa-client.js`;
    await bundleEntry("client.ts", clientBundle);
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

    // The baselines (the floor, and spa-client --version as run and bundled) are sampled after
    // every knock of every row, so they span the same stretch of time as the knocks: on a shared
    // machine the load changes within a run.
    const helloArgv = [Deno.execPath(), "run", ...MODULE_FLAGS, `${ROOT}/bench/e2e/hello.ts`];
    const versionArgv = spaClientArgv(["--version"]);
    const baselines: Row[] = [
      { label: FLOOR_LABEL, argv: helloArgv },
      { label: `spa-client \`--version\`, ${RUN}`, argv: versionArgv, env: cacheEnv },
      {
        label: `spa-client \`--version\`, ${SHIPPED}`,
        argv: versionArgv.map((a) => a === `${ROOT}/client.ts` ? clientBundle : a),
        env: cacheEnv,
      },
    ].map((row): Row => ({ ...row, wire: [], open: [], exit: [] }));
    const sampleBaselines = async (measured: boolean) => {
      for (const row of baselines) {
        const ms = await exitOf(prober, row.argv!, row.env);
        if (measured && ms !== undefined) row.exit.push(ms);
      }
    };
    log("baselines: warm-up");
    await sampleBaselines(false);
    rows.push(...baselines);
    {
      await using spa = await startSpa(topo, server.ipv4);
      const asRun = withEntry(spa, `${ROOT}/client.ts`, cacheEnv);
      const bundled = withEntry(spa, clientBundle, cacheEnv);
      const lanes: Lane[] = [];
      for (const variant of ["syn", "udp"]) {
        lanes.push(
          { label: `spa-client ${variant}, ${RUN}`, contender: asRun, variant },
          { label: `spa-client ${variant}, ${SHIPPED}`, contender: bundled, variant },
        );
      }
      if (mounted) {
        lanes.push({
          label: TMPFS_LABEL,
          contender: withEntry(spa, clientBundle, { ...cacheEnv, XDG_STATE_HOME: tmpfs }),
          variant: "udp",
          around: await onTmpfs(spa, tmpfs),
        });
      } else {
        log("no tmpfs row: mount -t tmpfs failed");
      }
      log(`spa: ${count} knocks per row (${lanes.length} rows), interleaved`);
      rows.push(...await interleaved(prober, lanes, count, sampleBaselines));
    }
    {
      await using fwknop = await startFwknop(topo, server.ipv4, FWKNOP_SOURCES);
      log(`fwknop: ${count} knocks`);
      rows.push(
        ...await interleaved(
          prober,
          [{
            label: "fwknop client (udp)",
            contender: fwknop,
            variant: "udp",
          }],
          count,
          sampleBaselines,
        ),
      );
    }
  } finally {
    if (mounted) {
      await new Deno.Command("umount", { args: [tmpfs], stdout: "null", stderr: "null" }).output();
    }
    await Deno.remove(work, { recursive: true });
  }
  const modules = { syn: await knockModules("syn"), udp: await knockModules("udp") };
  const floorP50 = summarize(rows.find((row) => row.label === FLOOR_LABEL)!.exit)?.p50;
  const fwknopOpen = summarize(rows.at(-1)!.open)?.p50;
  const lines = [
    "<!-- start:begin -->",
    "",
    "## Client start → knock on the wire (`deno task bench:start`)",
    "",
    `- date: ${
      new Date().toISOString().slice(0, 19)
    }Z; machine: ${machine.cores} cores, ${machine.cpu}; ${count} knocks per row after one unmeasured`,
    "- spa-client runs two ways, each with `clientFlags()` of lib/permissions.ts: `deno run client.ts` (the module graph, as the tests run it), and the shipped build: the `deno bundle` file of client.ts that `deno task compile` embeds in the spa-client binary (scripts/bundle.ts builds both), run with `deno run`, since `deno compile` cannot run here. Every spa-client run uses a Deno folder (`DENO_DIR`) of its own, empty at the start of the run, so V8's code cache holds what the client's own flags compiled (Deno never rewrites an entry), as a shipped binary's own cache does.",
    "- wire: the prober's libpcap timestamp of the knock leaving the client's eth0, from the client's spawn; open: the first completed connect to the protected port.",
    "- the spa-client rows take turns, one knock each, then one sample of the floor and of the `--version` rows (again after every fwknop knock), so all rows span the same stretch of a shared machine's load; ÷ floor is start → wire ÷ the floor's exit, or for a row without a knock its exit ÷ the floor's exit.",
    "",
    "| client | start → wire, ms (min / p50) | ÷ floor (p50) | start → open, ms (min / p50) | ÷ fwknop (p50) | exit, ms p50 |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) => {
      const wire = summarize(row.wire);
      const open = summarize(row.open);
      const exit = summarize(row.exit);
      const div = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? "" : `${(a / b).toFixed(2)}×`;
      const own = row.label === FLOOR_LABEL ? undefined : wire?.p50 ?? exit?.p50;
      return `| ${row.label} | ${wire ? `${ms(wire.min)} / ${ms(wire.p50)}` : ""} | ${
        div(own, floorP50)
      } | ${open ? `${ms(open.min)} / ${ms(open.p50)}` : ""} | ${div(open?.p50, fwknopOpen)} | ${
        ms(exit?.p50)
      } |`;
    }),
    "",
    ...goals(rows, floorP50, fwknopOpen),
    "",
    ...gap(rows, floorP50, modules),
    "",
    "<!-- start:end -->",
  ];
  const section = lines.join("\n");
  console.log(section);
  await writeSection("start", section);
  log(`wrote ${RESULTS_PATH}`);
  return 0;
}

/** The issue's two goals for each spa row: start → wire ≤ 1.5× the floor, start → open ≤ 0.5× fwknop. */
function goals(rows: Row[], floor: number | undefined, fwknop: number | undefined): string[] {
  const knocks = rows.filter((row) => row.label.startsWith("spa-client") && row.wire.length > 0);
  return knocks.filter((row) => row.label !== TMPFS_LABEL).map((row) => {
    const wire = summarize(row.wire)?.p50;
    const open = summarize(row.open)?.p50;
    const met = (value: number | undefined, bound: number | undefined) =>
      value === undefined || bound === undefined ? "n/a" : value <= bound ? "pass" : "**miss**";
    return `- ${row.label}: start → wire ≤ 1.5× the floor: ${
      met(wire, floor === undefined ? undefined : 1.5 * floor)
    }; knock→open ≤ 0.5× fwknop's: ${met(open, fwknop === undefined ? undefined : 0.5 * fwknop)}`;
  });
}

/**
 * What the time between the floor's exit and the knock on the wire is made of, from this run's
 * rows: `--version`'s exit over the floor's (loading and evaluating the client's modules, parsing
 * the command line), the knock's work after that (config, key, state lock, the durable save,
 * sealing, the send), and of it the disk flushes of the save (the tmpfs row's difference).
 */
function gap(
  rows: Row[],
  floor: number | undefined,
  modules: Record<"syn" | "udp", { own: number; npm: boolean }>,
): string[] {
  const p50 = (label: string, of: "wire" | "exit") =>
    summarize(rows.find((row) => row.label === label)?.[of] ?? [])?.p50;
  const diff = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "n/a" : `${(a - b).toFixed(1)} ms`;
  const lines = [
    "What the gap between the floor's exit and the knock on the wire is made of (differences of this run's p50s; an exit includes the process's teardown, a wire time does not, so the knock's own work is if anything larger than shown):",
    "",
  ];
  for (
    const [build, label] of [["deno run", RUN], ["shipped build", SHIPPED]] as const
  ) {
    const version = p50(`spa-client \`--version\`, ${label}`, "exit");
    for (const transport of ["syn", "udp"] as const) {
      const wire = p50(`spa-client ${transport}, ${label}`, "wire");
      lines.push(
        `- ${transport}, ${build}: floor → wire ${
          diff(wire, floor)
        } = loading and evaluating the client's modules and parsing the command line (\`--version\` exit − floor exit) ${
          diff(version, floor)
        } + the knock's own work (wire − \`--version\` exit) ${diff(wire, version)}`,
      );
    }
  }
  lines.push(
    `- of the knock's work, the disk flushes of the durable save before the send (udp, shipped build, wire − the same on a tmpfs): ${
      diff(p50(`spa-client udp, ${SHIPPED}`, "wire"), p50(TMPFS_LABEL, "wire"))
    }`,
    `- modules a knock loads with \`deno run\`: ${modules.syn.own} (syn) / ${modules.udp.own} (udp) of the project's${
      modules.udp.npm
        ? ", plus the npm package smol-toml (the TOML parser of the config and key files)"
        : ""
    }; the shipped build (\`deno bundle\`) makes them one`,
  );
  return lines;
}

if (import.meta.main) Deno.exit(await main());
