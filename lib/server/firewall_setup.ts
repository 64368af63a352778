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

/**
 * Sets the protected ports, and for nft the response to scanners and the time limit. With
 * `running`, the config the firewall was last set up from, it runs nothing when `config` asks the
 * firewall for the same (a reload that changed only users): an nft run takes 15 to 25 ms (a new
 * process), and every knock's grant waits in its queue meanwhile. Returns whether it ran.
 *
 * @example
 * ```ts
 * import type { ServerConfig } from "../config/server.ts";
 * import { NoneBackend } from "../firewall/none.ts";
 * import { reconfigureFirewall } from "./firewall_setup.ts";
 * const config = {
 *   ports: [{ protocol: "tcp", port: 22, idleTimeoutMs: 60_000 }],
 *   protectedResponse: "drop",
 *   nftTimeoutMs: 5_000,
 * } as unknown as ServerConfig;
 * const firewall = new NoneBackend();
 * await firewall.start([]);
 * if (!await reconfigureFirewall(firewall, undefined, config)) throw new Error("not run");
 * if (await reconfigureFirewall(firewall, undefined, { ...config }, config)) throw new Error("ran");
 * ```
 */
export async function reconfigureFirewall(
  firewall: FirewallBackend,
  nft: NftBackend | undefined,
  config: ServerConfig,
  running?: ServerConfig,
): Promise<boolean> {
  const ports = protectedPorts(config);
  if (
    running !== undefined && sameFirewall(running, config) &&
    (nft === undefined || samePorts(nft.ports, ports))
  ) {
    return false;
  }
  await (nft?.reconfigure(ports, {
    response: config.protectedResponse,
    timeoutMs: config.nftTimeoutMs,
  }) ?? firewall.reconfigure(ports));
  return true;
}

/** Whether two configs ask the firewall for the same ports, response and time limit. */
export function sameFirewall(a: ServerConfig, b: ServerConfig): boolean {
  return a.protectedResponse === b.protectedResponse && a.nftTimeoutMs === b.nftTimeoutMs &&
    samePorts(protectedPorts(a), protectedPorts(b));
}

function samePorts(
  a: readonly ProtectedPort[] | undefined,
  b: readonly ProtectedPort[],
): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((p, i) => {
      const q = b[i]!;
      return p.protocol === q.protocol && p.port === q.port && p.idleTimeoutMs === q.idleTimeoutMs;
    });
}

/** The firewall's view of a config's ports. */
export function protectedPorts(config: ServerConfig): ProtectedPort[] {
  return config.ports.map((p) => ({
    protocol: p.protocol,
    port: p.port,
    idleTimeoutMs: p.idleTimeoutMs,
  }));
}
