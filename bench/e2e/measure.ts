/**
 * The bench's measurements on one contender: knock series, idle and background CPU, knocks under
 * a junk flood, peak memory; and the runtime and client baselines.
 *
 * @module
 */

import { serverFlags } from "../../lib/permissions.ts";
import type { Host, Topology } from "../../harness/topology.ts";
import type { Contender, DropStats } from "./contender.ts";
import { type FloodKind, startFlood } from "./flooder.ts";
import { CpuWindow, socketMappingKiB, statusKiB } from "./proc.ts";
import type { GapStats, Prober, ProbeResult } from "./prober.ts";
import { spaClientArgv } from "./spa_side.ts";
import { sleep } from "./stats.ts";

/** One knock as measured. */
export interface KnockSample {
  variant: string;
  /** Client start → port open, ms; `undefined` when not open within the bound. */
  openMs: number | undefined;
  /** Client start → knock packet leaving the client, ms. */
  wireMs: number | undefined;
  /** Client wall time, ms. */
  clientMs: number | undefined;
  /** Why the client failed, if it did. */
  failure: string | undefined;
  /** spa-client only: sends of the packet that was acked. */
  attempts: number | undefined;
  /** Gaps between two connects of the poller. */
  gaps: GapStats;
}

/** The hosts of the bench's topology. */
export interface Hosts {
  server: Host;
  client: Host;
  flooder: Host;
}

/**
 * One knock from closed: the prober checks the port is closed for the knock's address (closing it
 * if a late grant opened it), then starts the client and polls; then the grant is closed.
 *
 * @throws {Error} When the port cannot be closed before the knock, or opened before it left.
 * @example
 * ```ts ignore
 * const sample = await knockOnce(prober, spa, "syn", 0, 3000);
 * ```
 */
export async function knockOnce(
  prober: Prober,
  contender: Contender,
  variant: string,
  n: number,
  openTimeoutMs: number,
): Promise<KnockSample> {
  const source = contender.source(n);
  for (let attempt = 0;; attempt++) {
    const check = await prober.request({
      op: "probe",
      timeoutMs: CLOSED_CHECK_MS,
      ...(source === undefined ? {} : { source }),
    });
    if (check.openMs === null) break;
    if (attempt === 2) {
      throw new Error(`Cannot measure: the port stays open before a knock (${contender.name})`);
    }
    await contender.closeGrant(true);
  }
  const r: ProbeResult = await prober.request(contender.knock(variant, openTimeoutMs, source));
  const opened = r.openMs !== null;
  if (opened && r.wireMs !== null && r.openMs! < r.wireMs) {
    throw new Error(`Cannot measure: the port opened before the knock left (${contender.name})`);
  }
  await contender.closeGrant(opened);
  return {
    variant,
    openMs: r.openMs ?? undefined,
    wireMs: r.wireMs ?? undefined,
    clientMs: r.clientMs ?? undefined,
    failure: contender.clientFailure(r.clientCode, r.clientStdout, r.clientStderr),
    attempts: contender.attempts(r.clientStdout),
    gaps: r.gaps,
  };
}

/** How long the port is polled to check it is closed before a knock. */
const CLOSED_CHECK_MS = 60;

/** Numbers knocks across a contender's series and flood windows (it picks the address). */
let knockNumber = 0;

/**
 * `count` knocks per variant, variants interleaved, each from closed.
 *
 * @example
 * ```ts ignore
 * const samples = await knockSeries(prober, spa, 50, 3000);
 * ```
 */
export async function knockSeries(
  prober: Prober,
  contender: Contender,
  count: number,
  openTimeoutMs: number,
  progress: (line: string) => void = () => {},
): Promise<KnockSample[]> {
  const samples: KnockSample[] = [];
  for (let i = 0; i < count; i++) {
    for (const variant of contender.variants) {
      samples.push(await knockOnce(prober, contender, variant, knockNumber++, openTimeoutMs));
    }
    if ((i + 1) % 10 === 0) progress(`  ${contender.name}: ${i + 1}/${count} knocks per variant`);
  }
  return samples;
}

/**
 * CPU share of the daemon over `seconds` with nothing to do.
 *
 * @example
 * ```ts ignore
 * const share = await idleCpu(spa, 10);
 * ```
 */
export async function idleCpu(contender: Contender, seconds: number): Promise<number> {
  const window = await CpuWindow.start(contender.pid);
  await sleep(seconds * 1000);
  return await window.end();
}

/** Packets the host's eth0 has sent (read inside its namespace). */
async function txPackets(topo: Topology, host: Host): Promise<number> {
  const text = await topo.execOk(host, ["cat", "/sys/class/net/eth0/statistics/tx_packets"]);
  return Number(text.trim());
}

/** What one flood window measured. */
export interface FloodWindow {
  kind: FloodKind;
  /** Asked rate, packets/s (0: as fast as possible). */
  rate: number;
  /** Rate the flooder's interface actually sent during the window. */
  offered: number;
  /** Daemon CPU, fraction of one core. */
  cpu: number;
  /** Capture drops during the window (`undefined`: not reported). */
  dropped: number | undefined;
  /** Capture receptions during the window. */
  received: number | undefined;
  knocks: KnockSample[];
}

/** Options of {@linkcode floodWindow}. */
export interface FloodWindowOptions {
  kind: FloodKind;
  rate: number;
  /** Destination UDP port of the flood. */
  port: number;
  /** UID forged trailers carry. */
  uid: number;
  /** Knocks sent during the flood (0: CPU only). */
  knocks: number;
  /** The window lasts at least this long. */
  minSeconds: number;
  /** A knock counts as honoured when the port opens within this bound. */
  openTimeoutMs: number;
}

const FLOOD_RAMP_MS = 800;

/**
 * Floods the server, and meanwhile measures the daemon's CPU and drops and sends knocks (each from
 * closed). The flood is bounded in time (long enough for every knock to time out) and is killed
 * once the window ends.
 *
 * @example
 * ```ts ignore
 * const w = await floodWindow(topo, hosts, prober, spa, {
 *   kind: "forged", rate: 100_000, port: 62201, uid: 1000, knocks: 4, minSeconds: 4, openTimeoutMs: 3000,
 * });
 * ```
 */
export async function floodWindow(
  topo: Topology,
  hosts: Hosts,
  prober: Prober,
  contender: Contender,
  o: FloodWindowOptions,
): Promise<FloodWindow> {
  const boundSeconds = Math.ceil(
    FLOOD_RAMP_MS / 1000 + o.minSeconds + o.knocks * (o.openTimeoutMs / 1000 + 2.5) + 3,
  );
  const flood = startFlood(topo, hosts.flooder, hosts.server, {
    kind: o.kind,
    rate: o.rate,
    seconds: boundSeconds,
    port: o.port,
    uid: o.uid,
  });
  try {
    await sleep(FLOOD_RAMP_MS);
    const before: DropStats | undefined = await contender.drops();
    const tx0 = await txPackets(topo, hosts.flooder);
    const t0 = performance.now();
    const window = await CpuWindow.start(contender.pid);
    const knocks: KnockSample[] = [];
    const end = t0 + o.minSeconds * 1000;
    for (let i = 0; i < o.knocks || performance.now() < end; i++) {
      if (i < o.knocks) {
        const variant = contender.variants[i % contender.variants.length]!;
        knocks.push(await knockOnce(prober, contender, variant, knockNumber++, o.openTimeoutMs));
      } else {
        await sleep(Math.max(0, end - performance.now()));
      }
    }
    const cpu = await window.end();
    const tx1 = await txPackets(topo, hosts.flooder);
    const t1 = performance.now();
    const after = await contender.drops();
    return {
      kind: o.kind,
      rate: o.rate,
      offered: (tx1 - tx0) / ((t1 - t0) / 1000),
      cpu,
      dropped: before && after ? after.dropped - before.dropped : undefined,
      received: before && after ? after.received - before.received : undefined,
      knocks,
    };
  } finally {
    flood.stop();
    await flood.done.catch(() => undefined);
  }
}

/** Bytes per MB (the targets are in MB). */
const MB = 1e6;

/**
 * Peak resident set (VmHWM) of the daemon so far, in MB.
 *
 * @example
 * ```ts ignore
 * const mib = await peakRssMB(spa.pid);
 * ```
 */
export async function peakRssMB(pid: number): Promise<number> {
  return (await statusKiB(pid, "VmHWM")) * 1024 / MB;
}

/**
 * Resident MB of the daemon's capture ring(s).
 *
 * @example
 * ```ts ignore
 * const mb = await ringMB(spa.pid);
 * ```
 */
export async function ringMB(pid: number): Promise<number> {
  return (await socketMappingKiB(pid)) * 1024 / MB;
}

/**
 * Peak resident set, in MB, of `deno run` with spa-server's permission flags on a script that
 * does nothing for a second: the runtime's own share of the daemon's memory.
 *
 * @example
 * ```ts ignore
 * const mb = await denoRuntimeRssMB();
 * ```
 */
export async function denoRuntimeRssMB(): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "spa-bench-empty-" });
  try {
    const script = `${dir}/empty.ts`;
    await Deno.writeTextFile(script, "setTimeout(() => {}, 1500);\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...serverFlags({ configDir: dir, stateDir: dir, commands: [] }),
        script,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await sleep(1000);
    const kib = await statusKiB(child.pid, "VmHWM");
    await child.status;
    return kib * 1024 / MB;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Median wall time, in ms, of `runs` runs of a command until it exits (cold start).
 *
 * @example
 * ```ts ignore
 * const ms = await medianWallMs(spaClientArgv(["--version"]), {}, 10);
 * ```
 */
export async function medianWallMs(
  argv: readonly string[],
  env: Record<string, string>,
  runs: number,
): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const out = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      env,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    times.push(performance.now() - started);
    if (!out.success) {
      throw new Error(`Cannot time ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  times.sort((a, b) => a - b);
  return times[Math.floor((times.length - 1) / 2)]!;
}

/**
 * spa-client's `--version` argv, as shipped.
 *
 * @example
 * ```ts ignore
 * const ms = await medianWallMs(spaVersionArgv(), {}, 10);
 * ```
 */
export function spaVersionArgv(): string[] {
  return spaClientArgv(["--version"]);
}
