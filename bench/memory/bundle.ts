/**
 * The `deno bundle` build `bench:memory` runs the daemon from: exactly the build `deno task compile`
 * embeds in `spa-server`, since both take it from scripts/bundle.ts, the one definition.
 *
 * @module
 */

export { bundleEntry } from "../../scripts/bundle.ts";
