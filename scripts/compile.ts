/**
 * `deno task compile`: builds `spa-server` and `spa-client` as single binaries for x86_64 and
 * aarch64 Linux, each with exactly its permission set from `lib/permissions.ts` baked in, and
 * writes `SHA256SUMS` over them.
 *
 * Each binary embeds a bundle, not the module graph: each entry point is first bundled into one
 * JavaScript file (`<out>/.bundle/spa-<binary>.js`, removed after the build) by scripts/bundle.ts,
 * the function that also builds the bundles `bench:start` and `bench:memory` measure, so they
 * measure what ships; `deno compile` embeds that file. Why: `bench:start` measured the bundled
 * client's knock on the wire at 1.37×/1.40× a hello-world `deno run`'s exit (syn/udp), against
 * 1.93×/2.00× for `deno run client.ts`, and its `--version` at 1.17× against 1.65×
 * (bench/RESULTS.md, `start` section): one file spares loading some 60 modules and resolving
 * smol-toml at each start.
 *
 * ```sh
 * deno task compile                                   # dist/spa-{server,client}-<target>, dist/SHA256SUMS
 * deno task compile --dry-run                         # print the deno bundle and deno compile lines only
 * deno task compile --server-config /etc/spa/server.toml   # bake that config's folders and commands
 * deno task compile --target x86_64-unknown-linux-gnu
 * ```
 *
 * Outputs are flat, `dist/spa-server-x86_64-unknown-linux-gnu` and so on, so release assets have
 * unique names and `sha256sum -c SHA256SUMS` works in the folder they were downloaded to.
 *
 * The build needs two downloads, or their cached copies. esbuild: `deno bundle` fetches it from
 * npm into `<DENO_DIR>/dl/` the first time; `deno task setup`, a dependency of the task, does it.
 * Deno's runtime: `deno compile` fetches it (`denort-<target>.zip`, one per target and Deno
 * version) from Deno's release downloads unless `<DENO_DIR>/dl/release/v<version>/` holds that
 * zip; copying it there is the only offline route. (`DENORT_BIN` also skips the download,
 * but it names one binary for every `--target`, so a cross build would embed the wrong
 * architecture: this script does not use it.) When the download fails, the script says so in one
 * line and exits 1.
 *
 * Exit codes: 0 built (or printed); 1 `deno bundle` or `deno compile` failed; 2 usage error or
 * unusable `--server-config`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError } from "../lib/config/config_error.ts";
import { bundleArgs, bundleEntry, BundleError, runDeno } from "./bundle.ts";
import { parseServerConfig, serverCommands } from "../lib/config/server.ts";
import {
  type Binary,
  clientFlags,
  DEFAULT_SERVER_LOCATIONS,
  serverFlags,
  type ServerLocations,
} from "../lib/permissions.ts";

/** The Linux targets every release is built for. */
export const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;

/** One of {@linkcode TARGETS}. */
export type Target = typeof TARGETS[number];

/** The entry point of each binary, relative to the repository root. */
export const ENTRY_POINTS: Readonly<Record<Binary, string>> = {
  "spa-server": "server.ts",
  "spa-client": "client.ts",
};

/** Where the binaries and `SHA256SUMS` go, relative to the repository root. */
export const DEFAULT_OUT_DIR = "dist";

/** The folder of the bundles inside the output folder; removed after the build. */
export const BUNDLE_DIR = ".bundle";

/**
 * `deno compile` options besides the permissions, for a bundle (one JavaScript file that imports
 * no npm package: esbuild inlined smol-toml): `--no-check`, as there is no TypeScript left to
 * check (the bundle step type-checked the graph); `--node-modules-dir=none`, since with deno.json's
 * `nodeModulesDir: "manual"` `deno compile` embeds the whole `./node_modules` beside the bundle
 * (4.3 MB: fast-check, `@types/node`, smol-toml; seen with Deno standing in for its runtime);
 * `--exclude-unused-npm`, a guard: were the bundle to import an npm package, only that one would
 * be embedded, not all of `deno.lock`'s. `MODULE_FLAGS` come with the permission flags.
 */
export const COMPILE_OPTIONS: readonly string[] = [
  "--no-check",
  "--node-modules-dir=none",
  "--exclude-unused-npm",
];

/** One `deno compile` run, of the bundle of one entry point. */
export interface CompileJob {
  binary: Binary;
  target: Target;
  /** Output file, relative to the repository root. */
  output: string;
  /** The bundle `deno compile` embeds, relative to the repository root (one per binary). */
  bundle: string;
  /** The arguments after `deno` that write {@linkcode CompileJob.bundle}, starting with `bundle`. */
  bundleArgs: string[];
  /** The permission flags baked into the binary (from `lib/permissions.ts`). */
  permissions: string[];
  /** The arguments after `deno`, starting with `compile`. */
  args: string[];
}

/**
 * The `deno compile` runs for `targets`: the server with the permission set of `locations`, the
 * client with its own, each writing `<outDir>/<binary>-<target>` from the bundle
 * `<outDir>/.bundle/<binary>.js` of its entry point.
 *
 * @example
 * ```ts
 * import { compileJobs } from "./compile.ts";
 * import { DEFAULT_SERVER_LOCATIONS } from "../lib/permissions.ts";
 * const jobs = compileJobs(DEFAULT_SERVER_LOCATIONS, ["x86_64-unknown-linux-gnu"]);
 * if (jobs[0]!.output !== "dist/spa-server-x86_64-unknown-linux-gnu") throw new Error();
 * if (jobs[0]!.args.at(-1) !== "dist/.bundle/spa-server.js") throw new Error();
 * ```
 */
export function compileJobs(
  locations: ServerLocations,
  targets: readonly Target[] = TARGETS,
  outDir: string = DEFAULT_OUT_DIR,
): CompileJob[] {
  const jobs: CompileJob[] = [];
  for (const target of targets) {
    for (const binary of ["spa-server", "spa-client"] as const) {
      const output = `${outDir}/${binary}-${target}`;
      const bundle = `${outDir}/${BUNDLE_DIR}/${binary}.js`;
      const permissions = binary === "spa-server" ? serverFlags(locations) : clientFlags();
      const args = [
        "compile",
        "--target",
        target,
        "--output",
        output,
        ...COMPILE_OPTIONS,
        ...permissions,
        bundle,
      ];
      jobs.push({
        binary,
        target,
        output,
        bundle,
        bundleArgs: bundleArgs(ENTRY_POINTS[binary], bundle),
        permissions,
        args,
      });
    }
  }
  return jobs;
}

/**
 * The server locations a config implies: its folder (read only), its `state_dir`, the programs of
 * its `on_open`/`on_close` commands and its `libpcap_path`. Reads only the config file.
 *
 * @param path The server config.
 * @throws {ConfigError} When the config is invalid, or names a key file outside its folder (the
 * server could not read it).
 * @example
 * ```ts ignore
 * const locations = await locationsFromConfig("/etc/spa/server.toml");
 * ```
 */
export async function locationsFromConfig(path: string): Promise<ServerLocations> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await Deno.readTextFile(absolute);
  } catch (error) {
    throw new ConfigError(absolute, [`Cannot read it: ${(error as Error).message}`]);
  }
  const config = parseServerConfig(text, { path: absolute });
  const configDir = dirname(absolute);
  const outside = config.users.flatMap((user, i) =>
    isInside(user.keyFile, configDir) ? [] : [
      `users[${i}].key_file: ${user.keyFile} is outside ${configDir}, the only folder the ` +
      "server may read",
    ]
  );
  if (outside.length > 0) throw new ConfigError(absolute, outside);
  return {
    configDir,
    stateDir: config.stateDir,
    commands: serverCommands(config),
    ...(config.libpcapPath === undefined ? {} : { libpcapPath: config.libpcapPath }),
  };
}

/**
 * One shell-safe command line: arguments with characters other than letters, digits and
 * `_./,=:@%+-` are single-quoted.
 *
 * @example
 * ```ts
 * import { shellLine } from "./compile.ts";
 * if (shellLine(["deno", "a b"]) !== "deno 'a b'") throw new Error();
 * ```
 */
export function shellLine(argv: readonly string[]): string {
  return argv.map((arg) =>
    /^[A-Za-z0-9_./,=:@%+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`
  ).join(" ");
}

/**
 * Whether a failed `deno compile`'s error output says it could not fetch its runtime.
 *
 * @example
 * ```ts
 * import { isRuntimeDownloadFailure } from "./compile.ts";
 * if (!isRuntimeDownloadFailure("0: Setting up base binary.\n1: error sending request for url")) {
 *   throw new Error();
 * }
 * ```
 */
export function isRuntimeDownloadFailure(stderr: string): boolean {
  return /Setting up base binary|denort-[a-z0-9_-]+\.zip/.test(stderr) &&
    /error sending request|dns error|Connect|Download|timed out|status/i.test(stderr);
}

const USAGE = `Usage: deno task compile [options]

Builds <out>/spa-server-<target> and <out>/spa-client-<target>: deno bundle of each entry point
into <out>/.bundle/ (removed after), then deno compile of that bundle, with its permission set
from lib/permissions.ts; and <out>/SHA256SUMS over them.

Options:
  --dry-run               print the deno bundle and deno compile lines; build nothing
  --target <target>       build only this target (repeatable; default: ${TARGETS.join(", ")})
  --server-config <file>  bake the folders and commands of this server config (default: the
                          standard locations: read /etc/spa, write /var/lib/spa, run nft, systemctl)
  --config-dir <dir>      the server's config folder (default: /etc/spa)
  --state-dir <dir>       the server's state folder (default: /var/lib/spa)
  --command <program>     a program on_open/on_close may run (repeatable; default: systemctl)
  --out <dir>             output folder (default: dist; the task may write only there)
  -h, --help              show this help

Exit codes: 0 built or printed; 1 deno bundle or deno compile failed; 2 usage error or unusable
--server-config`;

/** Runs the script; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({
      args,
      options: {
        "dry-run": { type: "boolean" },
        target: { type: "string", multiple: true },
        "server-config": { type: "string" },
        "config-dir": { type: "string" },
        "state-dir": { type: "string" },
        command: { type: "string", multiple: true },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    console.error(`compile: Cannot parse the command line: ${(error as Error).message}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const targets = options.target ?? [...TARGETS];
  const unknown = targets.find((t) => !(TARGETS as readonly string[]).includes(t));
  if (unknown !== undefined) {
    console.error(`compile: Cannot build for ${unknown}: targets are ${TARGETS.join(", ")}`);
    return 2;
  }
  let locations: ServerLocations = { ...DEFAULT_SERVER_LOCATIONS };
  if (options["server-config"] !== undefined) {
    try {
      locations = await locationsFromConfig(options["server-config"]);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      for (const line of error.problems) console.error(`compile: ${error.path}: ${line}`);
      return 2;
    }
  }
  if (options["config-dir"] !== undefined) locations.configDir = resolve(options["config-dir"]);
  if (options["state-dir"] !== undefined) locations.stateDir = resolve(options["state-dir"]);
  if (options.command !== undefined) locations.commands = options.command;

  const jobs = compileJobs(locations, targets as Target[], options.out ?? DEFAULT_OUT_DIR);
  if (options["dry-run"]) {
    for (const job of jobs) {
      console.log(shellLine(["deno", ...job.bundleArgs]));
      console.log(shellLine(["deno", ...job.args]));
    }
    for (const line of await runtimeNotes(targets as Target[])) console.log(`# ${line}`);
    return 0;
  }
  try {
    return await build(jobs, options.out ?? DEFAULT_OUT_DIR);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    console.error(
      `compile: Cannot write the binaries: ${error.message} (deno task compile may write only ` +
        `${DEFAULT_OUT_DIR}/; for another --out run scripts/compile.ts with --allow-write=<out>)`,
    );
    return 1;
  }
}

async function build(jobs: CompileJob[], outDir: string): Promise<number> {
  const root = new URL("..", import.meta.url).pathname;
  await Deno.mkdir(resolve(root, outDir), { recursive: true });
  await Deno.remove(resolve(root, outDir, "SHA256SUMS")).catch(() => {});
  try {
    return await buildJobs(jobs, outDir, root);
  } finally {
    await Deno.remove(resolve(root, outDir, BUNDLE_DIR), { recursive: true }).catch(() => {});
  }
}

async function buildJobs(jobs: CompileJob[], outDir: string, root: string): Promise<number> {
  const sums: string[] = [];
  const bundled = new Set<string>();
  for (const job of jobs) {
    if (!bundled.has(job.bundle)) {
      console.error(`compile: bundle ${ENTRY_POINTS[job.binary]} -> ${job.bundle}`);
      try {
        await bundleEntry(ENTRY_POINTS[job.binary], job.bundle, "deno");
      } catch (error) {
        if (!(error instanceof BundleError)) throw error;
        Deno.stderr.writeSync(new TextEncoder().encode(error.stderr));
        console.error(`compile: ${error.message}`);
        return 1;
      }
      bundled.add(job.bundle);
    }
    console.error(`compile: ${job.binary} for ${job.target} -> ${job.output}`);
    const result = await runDeno("deno", job.args, root);
    if (!result.success) {
      const stderr = new TextDecoder().decode(result.stderr);
      if (isRuntimeDownloadFailure(stderr)) {
        console.error(
          `compile: Cannot compile ${job.binary} for ${job.target}: deno could not download its ` +
            `runtime (denort-${job.target}.zip); build where Deno's release downloads are ` +
            `reachable, or put that zip in ${await runtimeCacheDir()}`,
        );
      } else {
        Deno.stderr.writeSync(result.stderr);
        console.error(
          `compile: Cannot compile ${job.binary} for ${job.target}: deno compile exited with ${result.code}`,
        );
      }
      return 1;
    }
    sums.push(`${await sha256File(resolve(root, job.output))}  ${relative(outDir, job.output)}`);
  }
  await Deno.writeTextFile(resolve(root, outDir, "SHA256SUMS"), sums.join("\n") + "\n");
  console.error(`compile: wrote ${jobs.length} binaries and ${outDir}/SHA256SUMS`);
  return 0;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path);
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** `deno info --json`'s cache folder and `deno --version`'s version, from the `deno` on PATH. */
async function denoFacts(): Promise<{ denoDir: string; version: string } | undefined> {
  try {
    const run = async (args: string[]) =>
      new TextDecoder().decode(
        (await new Deno.Command("deno", { args, stdout: "piped", stderr: "null" }).output())
          .stdout,
      );
    const info = JSON.parse(await run(["info", "--json"])) as { denoDir?: string };
    const version = /^deno (\S+)/.exec(await run(["--version"]))?.[1];
    if (info.denoDir === undefined || version === undefined) return undefined;
    return { denoDir: info.denoDir, version };
  } catch {
    return undefined;
  }
}

async function runtimeCacheDir(): Promise<string> {
  const facts = await denoFacts();
  return facts === undefined
    ? "<DENO_DIR>/dl/release/v<deno version>/"
    : `${facts.denoDir}/dl/release/v${facts.version}/`;
}

async function runtimeNotes(targets: readonly Target[]): Promise<string[]> {
  const dir = await runtimeCacheDir();
  const notes: string[] = [];
  for (const target of targets) {
    const zip = `${dir}denort-${target}.zip`;
    const cached = await Deno.stat(zip).then(() => true, () => false);
    notes.push(
      cached
        ? `runtime for ${target}: cached at ${zip}`
        : `runtime for ${target}: not cached (${zip}); deno compile will download it`,
    );
  }
  return notes;
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
