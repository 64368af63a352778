/**
 * A `deno bundle` build of an entry point, for benchmarks that compare it with `deno run`: the
 * closest this machine gets to the shipped binary (`deno compile` cannot run here), since a bundle
 * is one JavaScript file with its npm modules inlined, which Deno neither transpiles nor resolves
 * through `node_modules`.
 *
 * @module
 */

import { ROOT } from "../../harness/spa_server.ts";

/**
 * Bundles `entry` (a path relative to the repository) into `out`.
 *
 * @throws {Error} When `deno bundle` fails (its message included).
 * @example
 * ```ts ignore
 * await bundleEntry("server.ts", "/tmp/spa-server.js");
 * ```
 */
export async function bundleEntry(entry: string, out: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    // `deno bundle` takes no --cached-only; --frozen and --no-remote keep it offline.
    args: ["bundle", "--frozen", "--no-remote", "--quiet", "-o", out, `${ROOT}/${entry}`],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new Error(`Cannot bundle ${entry}: ${new TextDecoder().decode(result.stderr)}`);
  }
}
