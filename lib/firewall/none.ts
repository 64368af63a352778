/**
 * The `none` backend (`firewall = "none"`): opens nothing, logs what it would do, and keeps the
 * grants in memory with their expiry so status and idle-close notices still work. It cannot see
 * traffic, so a grant lasts exactly its timeout from the last `open`.
 *
 * @module
 */

import { findPort, formatPortSpec } from "../protocol/port.ts";
import {
  checkPorts,
  checkTarget,
  checkTimeout,
  type FirewallBackend,
  type Grant,
  type GrantTarget,
  type LiveGrant,
  type ProtectedPort,
} from "./backend.ts";

/** Options of {@linkcode NoneBackend}. */
export interface NoneBackendOptions {
  /** Receives one line per action (default: discarded). */
  log?: (line: string) => void;
  /** Clock in milliseconds (default `Date.now`), for tests. */
  now?: () => number;
}

/**
 * A backend that only logs.
 *
 * @example
 * ```ts
 * import { NoneBackend } from "./none.ts";
 * const lines: string[] = [];
 * const fw = new NoneBackend({ log: (line) => lines.push(line) });
 * await fw.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 60_000 }]);
 * await fw.open({ address: "10.77.0.2", protocol: "tcp", port: 22, timeoutMs: 60_000 });
 * if ((await fw.list()).length !== 1 || lines.length !== 2) throw new Error();
 * await fw.stop();
 * ```
 */
export class NoneBackend implements FirewallBackend {
  readonly kind = "none" as const;
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  readonly #grants = new Map<string, { grant: Grant; expiresAt: number }>();
  #ports: readonly ProtectedPort[] = [];

  constructor(options: NoneBackendOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  start(ports: readonly ProtectedPort[]): Promise<void> {
    return settle(() => {
      checkPorts(ports);
      this.#ports = [...ports];
      this.#grants.clear();
      this.#log(`firewall none: would protect ${describePorts(ports)}`);
    });
  }

  reconfigure(ports: readonly ProtectedPort[]): Promise<void> {
    return settle(() => {
      checkPorts(ports);
      this.#ports = [...ports];
      this.#log(`firewall none: would now protect ${describePorts(ports)}`);
    });
  }

  open(grant: Grant): Promise<void> {
    return settle(() => {
      const target = checkTarget(grant);
      checkTimeout(grant.timeoutMs);
      if (findPort(this.#ports, target) === undefined) {
        throw new RangeError(
          `Cannot open grant: ${formatPortSpec(target)} is not a protected port`,
        );
      }
      const { address, protocol, port } = target;
      const live = { address, protocol, port, timeoutMs: grant.timeoutMs };
      this.#grants.set(keyOf(target), { grant: live, expiresAt: this.#now() + grant.timeoutMs });
      this.#log(
        `firewall none: would open ${
          formatPortSpec(target)
        } for ${target.address} (${grant.timeoutMs} ms)`,
      );
    });
  }

  close(target: GrantTarget): Promise<void> {
    return settle(() => {
      const checked = checkTarget(target);
      if (this.#grants.delete(keyOf(checked))) {
        this.#log(
          `firewall none: would close ${formatPortSpec(checked)} for ${checked.address}`,
        );
      }
    });
  }

  list(): Promise<LiveGrant[]> {
    return settle(() => {
      const now = this.#now();
      const out: LiveGrant[] = [];
      for (const [key, { grant, expiresAt }] of this.#grants) {
        if (expiresAt <= now) {
          this.#grants.delete(key);
          continue;
        }
        out.push({ ...grant, expiresInMs: expiresAt - now });
      }
      return out;
    });
  }

  stop(): Promise<void> {
    return settle(() => {
      this.#grants.clear();
      this.#log("firewall none: stopped");
    });
  }
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error);
  }
}

function keyOf(target: GrantTarget): string {
  return `${target.address}|${target.protocol}|${target.port}`;
}

function describePorts(ports: readonly ProtectedPort[]): string {
  if (ports.length === 0) return "no ports";
  return ports.map(formatPortSpec).join(", ");
}
