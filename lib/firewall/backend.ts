/**
 * The firewall backend interface: what the daemon asks of `nft` (or of the log-only `none`
 * backend), and the checks both apply to their arguments.
 *
 * A backend guards a set of protected ports. A grant opens one protected port for one source
 * address; it closes by itself after its timeout (refreshed by the traffic it lets through, where
 * the backend can see traffic), or when closed.
 *
 * @module
 */

import { formatAddress, isIpv4Mapped, parseAddress } from "../config/address.ts";
import { familyOf, type IpFamily } from "../packet/address.ts";
import { formatPortSpec, isValidPort, MAX_PORT, type PortSpec } from "../protocol/port.ts";

/** A port the backend guards: closed to everyone without a grant. */
export interface ProtectedPort extends PortSpec {
  /** A grant on this port closes after this long without traffic. */
  readonly idleTimeoutMs: number;
}

/** Which (address, protocol, port) a grant is for. */
export interface GrantTarget extends PortSpec {
  /** IPv4 or IPv6 address literal. */
  readonly address: string;
}

/** A request to open a protected port for one address. */
export interface Grant extends GrantTarget {
  /** Time the grant stays open without traffic. */
  readonly timeoutMs: number;
  /**
   * The caller knows the grant is not open now (a backend may then skip the work of refreshing
   * an existing one). When in doubt, leave it unset: a refresh is always correct.
   */
  readonly fresh?: boolean;
}

/** A grant that is open now. */
export interface LiveGrant extends Grant {
  /** Time left before it closes unless traffic refreshes it. */
  readonly expiresInMs: number;
}

/** Which firewall backend opens ports. */
export type FirewallKind = "nft" | "none";

/** A firewall backend. Calls are serialised by the backend; each is atomic. */
export interface FirewallBackend {
  /** `nft` or `none`. */
  readonly kind: FirewallKind;
  /** Installs the guard for `ports`, dropping every stale grant. */
  start(ports: readonly ProtectedPort[]): Promise<void>;
  /** Changes the protected ports (config reload), keeping the live grants. */
  reconfigure(ports: readonly ProtectedPort[]): Promise<void>;
  /** Opens a grant, or refreshes it (a new full timeout) when it is already open. */
  open(grant: Grant): Promise<void>;
  /** Closes a grant; closing one that is not open is not an error. */
  close(target: GrantTarget): Promise<void>;
  /** The grants open now. */
  list(): Promise<LiveGrant[]>;
  /** Removes the guard and every grant (clean exit). */
  stop(): Promise<void>;
}

/**
 * The firewall could not be changed or read (e.g. `nft` failed or is missing). Callers catch it
 * to log and carry on, or to refuse to start.
 *
 * @example
 * ```ts
 * import { FirewallError } from "./backend.ts";
 * const error = new FirewallError("Cannot open grant: nft exited with code 1: Error: x");
 * if (error.name !== "FirewallError") throw new Error();
 * ```
 */
export class FirewallError extends Error {
  override name = "FirewallError";
}

/** Longest timeout a backend accepts, in milliseconds (about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** A grant target after checking: canonical address text and its family. */
export interface CheckedTarget extends GrantTarget {
  readonly family: IpFamily;
}

/**
 * Checks a grant target and returns it with the canonical address. An IPv4-mapped IPv6 address
 * (`::ffff:10.0.0.1`) becomes the IPv4 address, as the kernel sees such traffic as IPv4.
 *
 * @throws {TypeError} When the address is not an IP literal or the protocol is unknown.
 * @throws {RangeError} When the port is out of range.
 * @example
 * ```ts
 * import { checkTarget } from "./backend.ts";
 * const t = checkTarget({ address: "FD77:0::2", protocol: "tcp", port: 22 });
 * if (t.address !== "fd77::2" || t.family !== 6) throw new Error();
 * ```
 */
export function checkTarget(target: GrantTarget): CheckedTarget {
  let bytes = typeof target.address === "string" ? parseAddress(target.address) : undefined;
  if (bytes === undefined) {
    throw new TypeError(`Cannot use grant: ${JSON.stringify(target.address)} is not an IP address`);
  }
  if (isIpv4Mapped(bytes)) bytes = bytes.subarray(12);
  checkPort(target);
  return {
    address: formatAddress(bytes),
    family: familyOf(bytes),
    protocol: target.protocol,
    port: target.port,
  };
}

/**
 * Checks a timeout: an integer number of milliseconds in 1..{@linkcode MAX_TIMEOUT_MS}.
 *
 * @throws {RangeError} When it is not.
 * @example
 * ```ts
 * import { checkTimeout } from "./backend.ts";
 * checkTimeout(2_000);
 * ```
 */
export function checkTimeout(ms: number): void {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_TIMEOUT_MS) {
    throw new RangeError(`Cannot use timeout: ${ms} ms is not an integer in 1..${MAX_TIMEOUT_MS}`);
  }
}

/**
 * Checks a list of protected ports: valid protocols, ports and timeouts, no port twice.
 *
 * @throws {TypeError | RangeError} On the first bad entry.
 * @example
 * ```ts
 * import { checkPorts } from "./backend.ts";
 * checkPorts([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 * ```
 */
export function checkPorts(ports: readonly ProtectedPort[]): void {
  const seen = new Set<string>();
  for (const port of ports) {
    checkPort(port);
    checkTimeout(port.idleTimeoutMs);
    const key = formatPortSpec(port);
    if (seen.has(key)) throw new RangeError(`Cannot protect ports: ${key} is listed twice`);
    seen.add(key);
  }
}

function checkPort(spec: PortSpec): void {
  if (spec.protocol !== "tcp" && spec.protocol !== "udp") {
    throw new TypeError(
      `Cannot use port: protocol ${JSON.stringify(spec.protocol)} is not tcp or udp`,
    );
  }
  if (!isValidPort(spec.port)) {
    throw new RangeError(`Cannot use port: ${spec.port} is not in 1..${MAX_PORT}`);
  }
}
