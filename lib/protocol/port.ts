/**
 * What a knock asks to open: a transport protocol and a port. The one definition of both, for the
 * packet format, the config, the firewall and the daemon.
 *
 * @module
 */

/** A transport protocol spa can guard. */
export type L4Protocol = "tcp" | "udp";

/** A protocol and port number, e.g. tcp port 22. */
export interface PortSpec {
  readonly protocol: L4Protocol;
  /** 1..65535. */
  readonly port: number;
}
