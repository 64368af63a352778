/**
 * Runs `bench/flood.ts` (used as is, as a CLI) in the flooder namespace: ready-made frames on an
 * `AF_PACKET` socket, addressed to the server's MAC and IPv4 address, from the flooder's own
 * address. Every flood is bounded by a packet count and a duration.
 *
 * @module
 */

import { ROOT } from "../../harness/spa_server.ts";
import type { Host, Topology } from "../../harness/topology.ts";
import { MODULE_FLAGS } from "../../lib/permissions.ts";

/** What the flood carries. */
export type FloodKind =
  /** Zero payload bytes: ordinary traffic, no trailer (its UID field reads 0, no user's). */
  | "plain"
  /** Fresh random payload bytes per batch. */
  | "random"
  /** Random payloads whose trailer position holds a valid UID: each costs spa a tag check. */
  | "forged";

/** Options of {@linkcode startFlood}. */
export interface FloodRun {
  kind: FloodKind;
  /** Packets per second; 0 = as fast as the flooder can. */
  rate: number;
  seconds: number;
  /** Destination UDP port. */
  port: number;
  /** UID written into forged trailers. */
  uid: number;
  /** Spoofed source address (default: the flooder's own). */
  source?: string;
  /** Spoof this many sources from 10.77.128.0/17 instead (see `flood.ts`). */
  sources?: number;
  /** Packets per `sendmmsg` (default 256): smaller batches pace a modest rate more evenly. */
  batch?: number;
}

/** What `flood.ts` reported. */
export interface FloodResult {
  sent: number;
  seconds: number;
  rate: number;
}

/** A running flood. */
export interface Flood {
  /** Resolves with flood.ts's report when it ends by itself; rejects when it failed or was stopped. */
  done: Promise<FloodResult>;
  /** Ends the flood now (SIGKILL), if it still runs. */
  stop(): void;
}

/** UDP payload bytes of every flood packet (a 100-byte IP packet). */
export const FLOOD_PAYLOAD = 72;
/** Count bound of a flood with no rate: more than the flooder sends in the time bound. */
const MAX_RATE_GUESS = 2_000_000;

/**
 * Starts a flood from `flooder` to `server`.
 *
 * @example
 * ```ts ignore
 * const flood = startFlood(topo, topo.host("flooder"), topo.host("server"), {
 *   kind: "forged", rate: 100_000, seconds: 5, port: 62201, uid: 1000,
 * });
 * console.log((await flood.done).rate);
 * ```
 */
export function startFlood(topo: Topology, flooder: Host, server: Host, run: FloodRun): Flood {
  const count = Math.ceil((run.rate > 0 ? run.rate : MAX_RATE_GUESS) * run.seconds);
  const child = topo.spawn(flooder, [
    Deno.execPath(),
    "run",
    ...MODULE_FLAGS,
    "--allow-all",
    `${ROOT}/bench/flood.ts`,
    "--to",
    server.ipv4,
    "--port",
    String(run.port),
    "--count",
    String(count),
    "--rate",
    String(run.rate),
    "--seconds",
    String(run.seconds),
    "--size",
    String(FLOOD_PAYLOAD),
    "--mac",
    server.mac,
    ...(run.kind === "plain" ? [] : ["--random"]),
    ...(run.kind === "forged" ? ["--uid", String(run.uid)] : []),
    ...(run.source === undefined ? [] : ["--source", run.source]),
    ...(run.sources === undefined ? [] : ["--sources", String(run.sources)]),
    ...(run.batch === undefined ? [] : ["--batch", String(run.batch)]),
  ]);
  const done = child.output().then((out) => {
    const text = new TextDecoder().decode(out.stdout).trim();
    if (!out.success) {
      throw new Error(
        `Cannot flood: flood.ts exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return JSON.parse(text.split("\n").at(-1)!) as FloodResult;
  });
  const stop = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already ended */ }
  };
  return { done, stop };
}
