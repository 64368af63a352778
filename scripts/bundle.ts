/**
 * The one definition of how spa bundles an entry point (`server.ts`, `client.ts`): `deno bundle`
 * (esbuild) into one JavaScript file, with the npm packages (smol-toml) and the dynamically
 * imported modules inlined, type-checked first, nothing remote. `deno task compile`
 * (scripts/compile.ts) embeds exactly this file in each binary, and the benchmarks
 * (`bench:start`, `bench:memory`) run it with `deno run` as the stand-in for a binary, since
 * `deno compile` cannot run where its runtime (`denort`) cannot be downloaded (why the binaries
 * embed a bundle: scripts/compile.ts).
 *
 * `deno bundle` fetches esbuild from npm (`@esbuild/linux-x64` on this machine, into
 * `<DENO_DIR>/dl/esbuild-<version>/`) the first time it runs, whatever it bundles; `deno task
 * setup` bundles this very module (it imports nothing) so that the fetch happens there, the one
 * step that may download. It takes no `--cached-only`; `--frozen` and `--no-remote` keep it to
 * `deno.lock` and local files.
 *
 * @module
 */

/** The repository root, without a final slash: entry points are relative to it. */
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The `deno bundle` options besides the output and the entry point: `--check` type-checks the
 * graph as `deno compile` of the TypeScript did (`deno bundle` does not by default);
 * `--platform=deno` keeps Deno's APIs and `node:` built-ins as they are.
 */
export const BUNDLE_OPTIONS: readonly string[] = [
  "--frozen",
  "--no-remote",
  "--platform=deno",
  "--check",
  "--quiet",
];

/**
 * The arguments after `deno` that bundle `entry` into `out` (both relative to the repository
 * root, or absolute).
 *
 * @example
 * ```ts
 * import { bundleArgs } from "./bundle.ts";
 * const args = bundleArgs("client.ts", "dist/.bundle/spa-client.js");
 * if (args[0] !== "bundle" || args.at(-1) !== "client.ts") throw new Error();
 * ```
 */
export function bundleArgs(entry: string, out: string): string[] {
  return ["bundle", ...BUNDLE_OPTIONS, "--output", out, entry];
}

/** `deno bundle` failed: {@linkcode BundleError.stderr} holds what it printed. */
export class BundleError extends Error {
  /** The entry point, as given. */
  readonly entry: string;
  /** `deno bundle`'s error output (type errors, resolution errors). */
  readonly stderr: string;

  /**
   * @param entry The entry point.
   * @param code `deno bundle`'s exit code.
   * @param stderr Its error output; its last `error:` line becomes the message's reason, or, when
   * it could not fetch esbuild (`Failed loading … for package "@esbuild/…"`), a hint to
   * run `deno task setup`.
   */
  constructor(entry: string, code: number, stderr: string) {
    const esbuild = /Failed loading \S+ for package "(@esbuild\/[^"]+)"/.exec(stderr)?.[1];
    const reason = esbuild !== undefined
      ? `deno could not download esbuild (${esbuild}); run deno task ` +
        "setup where the npm registry is reachable"
      : stderr.split("\n").filter((line) => line.startsWith("error: ")).at(-1)
        ?.slice("error: ".length);
    super(`Cannot bundle ${entry}: ${reason ?? `deno bundle exited with ${code}`}`);
    this.name = "BundleError";
    this.entry = entry;
    this.stderr = stderr;
  }
}

/**
 * Runs `deno` with `args` in `cwd`, without colours, its output captured: how `deno bundle` and
 * `deno compile` are run.
 *
 * @example
 * ```ts
 * import { runDeno } from "./bundle.ts";
 * const result = await runDeno(Deno.execPath(), ["--version"], ".");
 * if (!result.success) throw new Error("deno --version failed");
 * ```
 */
export function runDeno(
  deno: string,
  args: readonly string[],
  cwd: string,
): Promise<Deno.CommandOutput> {
  return new Deno.Command(deno, {
    args: [...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/**
 * Bundles `entry` into `out` ({@linkcode bundleArgs}), in the repository root.
 *
 * @param entry The entry point, relative to the repository root.
 * @param out The JavaScript file to write (relative to the repository root, or absolute).
 * @param deno The `deno` to run: by default the one running this code; `deno task compile`, which
 * may run only `deno`, passes `"deno"`.
 * @throws {BundleError} When `deno bundle` fails.
 * @example
 * ```ts
 * import { bundleEntry } from "./bundle.ts";
 * const out = await Deno.makeTempFile({ suffix: ".js" });
 * await bundleEntry("scripts/bundle.ts", out);
 * if (!(await Deno.readTextFile(out)).includes("function bundleArgs")) throw new Error();
 * await Deno.remove(out);
 * ```
 */
export async function bundleEntry(
  entry: string,
  out: string,
  deno: string = Deno.execPath(),
): Promise<void> {
  const result = await runDeno(deno, bundleArgs(entry, out), ROOT);
  if (!result.success) {
    throw new BundleError(entry, result.code, new TextDecoder().decode(result.stderr));
  }
}
