/**
 * The daemon's firewall from its config: the nft backend (or none), and the protected ports, the
 * response to scanners and the time limit a config (or a reload) sets on it.
 *
 * @module
 */

import type { ServerConfig } from "../config/server.ts";
import type { FirewallBackend, ProtectedPort } from "../firewall/backend.ts";
import { NftBackend } from "../firewall/nft.ts";
import { NoneBackend } from "../firewall/none.ts";

/** The firewall a config asks for; `nft` is set (and is `firewall`) when it uses nft. */
export function createFirewall(
  config: ServerConfig,
): { firewall: FirewallBackend; nft: NftBackend | undefined } {
  const nft = config.firewall === "nft"
    ? new NftBackend({
      table: config.nftTable,
      keepTableOnStop: true,
      timeoutMs: config.nftTimeoutMs,
      response: config.protectedResponse,
    })
    : undefined;
  return { firewall: nft ?? new NoneBackend(), nft };
}

/** Sets the protected ports, and for nft the response to scanners and the time limit. */
export function reconfigureFirewall(
  firewall: FirewallBackend,
  nft: NftBackend | undefined,
  config: ServerConfig,
): Promise<void> {
  const ports = protectedPorts(config);
  return nft?.reconfigure(ports, {
    response: config.protectedResponse,
    timeoutMs: config.nftTimeoutMs,
  }) ?? firewall.reconfigure(ports);
}

/** The firewall's view of a config's ports. */
export function protectedPorts(config: ServerConfig): ProtectedPort[] {
  return config.ports.map((p) => ({
    protocol: p.protocol,
    port: p.port,
    idleTimeoutMs: p.idleTimeoutMs,
  }));
}
