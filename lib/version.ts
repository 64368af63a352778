/**
 * The release version (from deno.json, baked into compiled binaries) and the protocol version.
 *
 * @module
 */

import meta from "../deno.json" with { type: "json" };
import { PROTOCOL_VERSION } from "./protocol/constants.ts";

/** The release version, e.g. `0.1.0`. */
export const VERSION: string = meta.version;

/**
 * The line `--version` prints.
 *
 * @example
 * ```ts
 * import { versionLine } from "./version.ts";
 * if (!versionLine("spa-server").includes("protocol 2")) throw new Error("unexpected");
 * ```
 */
export function versionLine(program: string): string {
  return `${program} ${VERSION} (protocol ${PROTOCOL_VERSION})`;
}
