/**
 * Firewall backends: the interface, `nft` (executes nft, kernel-side expiry) and `none` (logs only).
 *
 * @example
 * ```ts
 * import { createFirewall } from "./mod.ts";
 * const fw = createFirewall("none");
 * await fw.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 * await fw.stop();
 * ```
 *
 * @module
 */

import type { FirewallBackend } from "./backend.ts";
import { NftBackend, type NftBackendOptions } from "./nft.ts";
import { NoneBackend, type NoneBackendOptions } from "./none.ts";

export * from "./backend.ts";
export * from "./nft.ts";
export * from "./nft_script.ts";
export * from "./none.ts";

/**
 * The backend a config's `firewall` key names, e.g. `createFirewall(config.firewall,
 * { table: config.nftTable, log })`.
 *
 * @example
 * ```ts
 * import { createFirewall } from "./mod.ts";
 * if (createFirewall("nft", { table: "spa" }).kind !== "nft") throw new Error();
 * ```
 */
export function createFirewall(
  kind: "nft" | "none",
  options: NftBackendOptions & NoneBackendOptions = {},
): FirewallBackend {
  switch (kind) {
    case "nft":
      return new NftBackend(options);
    case "none":
      return new NoneBackend(options);
    default: {
      const never: never = kind;
      throw new TypeError(`Cannot create firewall: unknown kind ${JSON.stringify(never)}`);
    }
  }
}
