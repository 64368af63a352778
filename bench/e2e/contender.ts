/**
 * What the bench needs from each daemon under test (spa-server, fwknopd): start it in the server
 * namespace, build a knock for the prober, close a grant between knocks, and report its capture
 * drops.
 *
 * @module
 */

import type { ProbeRequest } from "./prober.ts";

/** The two systems compared. */
export type ContenderName = "spa" | "fwknop";

/** Capture counters a daemon reports, since it started. */
export interface DropStats {
  /** Packets its capture received. */
  received: number;
  /** Packets its capture dropped (ring full). */
  dropped: number;
}

/** A daemon running in the server namespace and the client that knocks on it. */
export interface Contender extends AsyncDisposable {
  readonly name: ContenderName;
  /** Process id of the daemon. */
  readonly pid: number;
  /** Knock variants (spa: `syn`, `udp`; fwknop: `udp`). */
  readonly variants: readonly string[];
  /**
   * The address the `n`-th knock asks to open and the prober connects from (an address of the
   * client host), or `undefined` for the client's own.
   */
  source(n: number): string | undefined;
  /** The prober request of one knock of `variant` opening the port to `source`. */
  knock(variant: string, openTimeoutMs: number, source: string | undefined): ProbeRequest;
  /**
   * Closes the client's grant in the firewall and waits until the daemon knows it is closed.
   * `opened`: whether the knock opened the port (if not, a grant may still appear late).
   */
  closeGrant(opened: boolean): Promise<void>;
  /** Capture counters, fresh; `undefined` when the daemon does not report them. */
  drops(): Promise<DropStats | undefined>;
  /** Validates a knock's client output; returns a reason when it failed. */
  clientFailure(code: number | null, stdout: string, stderr: string): string | undefined;
  /** Extra notes about the client run (e.g. spa-client's send attempts). */
  attempts(stdout: string): number | undefined;
}
