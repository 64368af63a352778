/**
 * What a knock asks to open: a transport protocol and a port. The one definition of both, for the
 * packet format, the config, the firewall and the daemon.
 *
 * @module
 */

/** A transport protocol spa can guard. */
export type L4Protocol = "tcp" | "udp";

/** The highest port number (ports are 16 bits; 0 is not a port). */
export const MAX_PORT = 65535;

/**
 * Whether `port` is a valid port number (an integer in 1..{@linkcode MAX_PORT}).
 *
 * @example
 * ```ts
 * import { isValidPort } from "./port.ts";
 * if (!isValidPort(22) || isValidPort(0) || isValidPort(65536)) throw new Error();
 * ```
 */
export function isValidPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= MAX_PORT;
}

/** A protocol and port number, e.g. tcp port 22. */
export interface PortSpec {
  /** `tcp` or `udp`. */
  readonly protocol: L4Protocol;
  /** 1..{@linkcode MAX_PORT}. */
  readonly port: number;
}

/**
 * The entry of `ports` for the same protocol and port as `target`, or `undefined`.
 *
 * @example
 * ```ts
 * import { findPort } from "./port.ts";
 * const ports = [{ protocol: "tcp" as const, port: 22, idleTimeoutMs: 1000 }];
 * if (findPort(ports, { protocol: "tcp", port: 22 }) !== ports[0]) throw new Error();
 * if (findPort(ports, { protocol: "udp", port: 22 }) !== undefined) throw new Error();
 * ```
 */
export function findPort<P extends PortSpec>(ports: readonly P[], target: PortSpec): P | undefined {
  return ports.find((p) => p.protocol === target.protocol && p.port === target.port);
}

/**
 * The canonical text of a port reference, e.g. `"tcp/22"`; also the key of `[ports."tcp/22"]`.
 *
 * @example
 * ```ts
 * import { formatPortSpec } from "./port.ts";
 * if (formatPortSpec({ protocol: "udp", port: 53 }) !== "udp/53") throw new Error();
 * ```
 */
export function formatPortSpec(spec: PortSpec): string {
  return `${spec.protocol}/${spec.port}`;
}
