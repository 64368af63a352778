/**
 * Everything one run measured, as plain data (the report is built from it alone).
 *
 * @module
 */

import type { MemoryParts } from "./proc.ts";

import type { ContenderName } from "./contender.ts";
import type { Machine } from "./machine.ts";
import type { FloodWindow, KnockSample } from "./measure.ts";

/** CPU and drops under background traffic that carries no trailer. */
export interface BackgroundSample {
  rate: number;
  offered: number;
  cpu: number;
  dropped: number | undefined;
}

/** What spa-server runs from in the bench (see {@linkcode RunResults.serverBuild}). */
export type ServerBuild = "bundle" | "run";

/** What was measured of one contender. */
export interface ContenderResults {
  name: ContenderName;
  /** Warm-up knocks needed before one was honoured (not counted anywhere else). */
  warmupKnocks: number;
  /** Knocks from closed, without load. */
  knocks: KnockSample[];
  /** Daemon CPU at idle, fraction of one core. */
  idleCpu: number;
  background: BackgroundSample[];
  floods: FloodWindow[];
  /** Growth of the daemon's VmRSS over the unloaded knock series, kB per knock. */
  rssGrowthPerKnockKB: number;
  /** VmHWM of the daemon after its warm-up knocks, MB. */
  startRssMB: number;
  /** VmHWM of the daemon at the end of its phase, MB. */
  peakRssMB: number;
  /** Private dirty memory of the daemon at the end of its phase (smaps_rollup), MB. */
  privateDirtyMB: number;
  /** Resident MB of its capture ring. */
  ringMB: number;
  /** What the daemon's resident memory is made of at the end of its phase. */
  parts: MemoryParts;
  /** Knocks a few seconds after the last flood (bound: `recoveryMs`). */
  recovery: KnockSample[];
}

/** A whole run. */
export interface RunResults {
  machine: Machine;
  command: string;
  quick: boolean;
  /** Knocks per variant in the latency series. */
  knocksPerVariant: number;
  /** A knock under flood counts as honoured when the port opens within this bound. */
  honourMs: number;
  /** Bound of the knocks after the floods. */
  recoveryMs: number;
  idleSeconds: number;
  /** Peak RSS of `deno run` of an empty script with the server's flags, MB. */
  denoRuntimeMB: number;
  /** Median wall time of `spa-client --version`, ms. */
  spaColdStartMs: number;
  /** Median wall time of `fwknop --version`, ms. */
  fwknopColdStartMs: number;
  /** Where the daemon's CPU profile went, when `--profile` was given. */
  profileDir: string | undefined;
  /**
   * What spa-server ran from: `bundle`, the `deno bundle` build of server.ts that `deno task
   * compile` embeds in the shipped binary (the default), or `run`, `deno run server.ts` as the
   * tests run it.
   */
  serverBuild: ServerBuild;
  contenders: Partial<Record<ContenderName, ContenderResults>>;
}
