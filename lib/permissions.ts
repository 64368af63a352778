/**
 * The one permission table. `deno task compile` bakes these flags into `spa-server` and
 * `spa-client`; the tests, the demo and the benchmarks start both programs with `deno run` and the
 * very same flags, so what the tests exercise is what ships.
 *
 * FFI is scoped to the exact library files the loaders in `ffi/` may open. Under a scoped
 * `--allow-ffi`, Deno also refuses every `Deno.UnsafePointer`/`UnsafePointerView` operation, so
 * `ffi/` declares C pointers as integers and copies memory with libc `memcpy` into buffers it owns.
 *
 * @module
 */

import { LIBC_CANDIDATES, LIBPCAP_CANDIDATES } from "../ffi/library_paths.ts";

/** The two programs spa ships. */
export type Binary = "spa-server" | "spa-client";

/** Where a server installation keeps its files; the shipped binary is built for these. */
export const DEFAULT_SERVER_LOCATIONS: ServerLocations = {
  configDir: "/etc/spa",
  stateDir: "/var/lib/spa",
  commands: ["systemctl"],
};

/** The folders and programs a server permission set is scoped to. */
export interface ServerLocations {
  /** Folder holding `server.toml` and the key files; read only. */
  configDir: string;
  /** Folder of the sequence state and status file; read and write. */
  stateDir: string;
  /** Programs named by `on_open`/`on_close`, besides `nft` which is always allowed. */
  commands: readonly string[];
  /** A libpcap path given in the config instead of the standard ones. */
  libpcapPath?: string;
}

/**
 * Hosts Deno would otherwise let a program import code from at run time. Both binaries refuse
 * them: spa never loads remote code (all of it is embedded or cached at build time).
 */
export const DENIED_IMPORT_HOSTS = [
  "deno.land:443",
  "jsr.io:443",
  "esm.sh:443",
  "raw.esm.sh:443",
  "cdn.jsdelivr.net:443",
  "raw.githubusercontent.com:443",
  "gist.githubusercontent.com:443",
] as const;

/**
 * V8 settings of the daemon: a small young generation (its hot path allocates nothing per packet,
 * so large semi-spaces only add resident memory under a flood), and `--optimize-for-size`: under a
 * flood of forged trailers V8 otherwise lets the old generation grow to 4 times its live size
 * (6 MB live, 26 MB before each full GC) and pools the freed pages. Measured with
 * `deno task bench:ring` (8 MiB ring, the flooder's maximum, same run, 2 rounds): peak RSS 95-96
 * MB without it, 82 MB with it; private dirty 42 MB and 26-27 MB; no change under random payloads.
 * And `gc()` for the full collection after each config load, which gives back the heap the
 * load's garbage grew (`lib/server/release_heap.ts`; `deno task bench:scale` measures it).
 * And `--no-concurrent-recompilation`: TurboFan compiles the few hot functions on the main thread
 * instead of V8's worker threads, which otherwise each get a glibc malloc arena of their own
 * (`MALLOC_ARENA_MAX` cannot reach them: they start before the program's first line). Measured
 * with `deno task bench:memory --v8=...` (3 pairs, same run, 1,500 knocks): thread arenas 2.0-4.0
 * → 0.5 MB, peak RSS −0.6 to −3.2 MB, knocks/s unchanged (142/187/216 without, 149/229/218 with).
 * Not `--max-opt=2` (no TurboFan: −3.7 MB under a forged-trailer flood, but the pure-JS SHA-256 of
 * every forged trailer runs 1.8× slower) nor `--max-opt=1`/`--lite-mode` (−12 MB, 10× slower).
 */
export const SERVER_V8_FLAGS = [
  "--max-semi-space-size=2",
  "--optimize-for-size",
  "--expose-gc",
  "--no-concurrent-recompilation",
] as const;

/**
 * How every `deno run`, `deno test`, `deno check` and `deno compile` of this project resolves its
 * npm modules: only from Deno's cache, which `deno task setup` (`deno install --frozen`) fills from
 * `deno.lock` once, and never against a lockfile that would change. Without `--cached-only`, Deno
 * 2.9 asks the registry again for a package whose cached metadata (`registry.json`) is missing, even
 * when the package itself is in the cache: a start-up delay, a failure on an offline host and a
 * supply-chain surprise. With it, a missing module is an error, never a download.
 */
export const MODULE_FLAGS = ["--cached-only", "--frozen"] as const;

/** Environment variables the client reads to find its config and state folders. */
export const CLIENT_ENV = ["HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"] as const;

/**
 * The `deno run`/`deno compile` permission flags of `spa-server`: read its config folder, read and
 * write its state folder, run `nft` and the configured commands, bind libpcap and libc; no network
 * permission (capture and raw send go through libpcap and libc), no environment, no prompt.
 *
 * @example
 * ```ts
 * import { serverPermissionFlags } from "./permissions.ts";
 * const flags = serverPermissionFlags({ configDir: "/etc/spa", stateDir: "/var/lib/spa", commands: [] });
 * if (!flags.includes("--allow-run=nft")) throw new Error("nft must be allowed");
 * ```
 */
export function serverPermissionFlags(locations: ServerLocations): string[] {
  const ffi = [...LIBPCAP_CANDIDATES, ...LIBC_CANDIDATES];
  if (locations.libpcapPath !== undefined) ffi.push(locations.libpcapPath);
  const run = unique(["nft", ...locations.commands]);
  return [
    "--no-prompt",
    `--allow-read=${unique([locations.configDir, locations.stateDir]).join(",")}`,
    `--allow-write=${locations.stateDir}`,
    `--allow-run=${run.join(",")}`,
    `--allow-ffi=${ffi.join(",")}`,
    `--deny-import=${DENIED_IMPORT_HOSTS.join(",")}`,
  ];
}

/**
 * Every flag `spa-server` is built and run with: {@linkcode MODULE_FLAGS},
 * {@linkcode serverPermissionFlags} and the daemon's V8 settings. `deno task compile`, the tests,
 * the demo and the benchmarks use this.
 *
 * @example
 * ```ts
 * import { serverFlags } from "./permissions.ts";
 * const flags = serverFlags({ configDir: "/etc/spa", stateDir: "/var/lib/spa", commands: [] });
 * if (!flags.some((f) => f.startsWith("--v8-flags="))) throw new Error("V8 settings expected");
 * ```
 */
export function serverFlags(locations: ServerLocations): string[] {
  return [
    ...MODULE_FLAGS,
    ...serverPermissionFlags(locations),
    `--v8-flags=${SERVER_V8_FLAGS.join(",")}`,
  ];
}

/**
 * The `deno run`/`deno compile` permission flags of `spa-client`. Its files (config, keys, state)
 * and the program it launches are the user's choice at run time, so read, write and run are not
 * scoped; FFI is scoped to libc (the syn transport needs no libpcap), the environment to {@linkcode CLIENT_ENV}, and it has
 * no system-information permission.
 *
 * @example
 * ```ts
 * import { clientPermissionFlags } from "./permissions.ts";
 * if (!clientPermissionFlags().includes("--allow-net")) throw new Error("udp knocks need --allow-net");
 * ```
 */
export function clientPermissionFlags(): string[] {
  return [
    "--no-prompt",
    "--allow-read",
    "--allow-write",
    "--allow-net",
    "--allow-run",
    `--allow-env=${CLIENT_ENV.join(",")}`,
    `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
    `--deny-import=${DENIED_IMPORT_HOSTS.join(",")}`,
  ];
}

/**
 * Every flag `spa-client` is built and run with: {@linkcode MODULE_FLAGS},
 * {@linkcode CLIENT_RUNTIME_FLAGS} and {@linkcode clientPermissionFlags}. `deno task compile`, the tests, the demo and the benchmarks
 * use this.
 *
 * @example
 * ```ts
 * import { clientFlags } from "./permissions.ts";
 * if (!clientFlags().includes("--cached-only")) throw new Error("modules come from the cache only");
 * ```
 */
export function clientFlags(): string[] {
  return [...MODULE_FLAGS, ...CLIENT_RUNTIME_FLAGS, ...clientPermissionFlags()];
}

/**
 * Runtime features of `spa-client`: `Deno.listenDatagram` (the udp transport) is still behind
 * `--unstable-net` in Deno 2.9; `node:dgram`, which needs no flag, loads Deno's Node layer and
 * cost about 8-10 ms of every knock's start (README, Performance).
 *
 * `--no-lazy` makes V8 compile every function when its module is compiled, so the bytecode of
 * every function lands in Deno's code cache: a knock then runs no function that has to be parsed
 * and compiled first (lazily, on its first call, every run). Measured with an instrumented copy
 * (README, Client start): the knock's own work from 15 to 8 ms bundled, module loading unchanged;
 * the first run after a change of the code (no cache yet) compiles everything instead.
 */
export const CLIENT_RUNTIME_FLAGS = ["--unstable-net", "--v8-flags=--no-lazy"] as const;

/** One row of the README's permission table. */
export interface PermissionRow {
  permission: string;
  server: string;
  client: string;
}

/**
 * The permission table as rows, for the README (a test checks the README holds exactly this).
 *
 * @example
 * ```ts
 * import { permissionTable } from "./permissions.ts";
 * if (permissionTable().length === 0) throw new Error("empty table");
 * ```
 */
export function permissionTable(): PermissionRow[] {
  return [
    {
      permission: "read files",
      server: "its config folder and state folder only",
      client: "yes (config, key and state files are wherever the user keeps them)",
    },
    {
      permission: "write files",
      server: "its state folder only",
      client: "yes (its state folder; `keygen --out`)",
    },
    {
      permission: "run programs",
      server: "`nft` and the `on_open`/`on_close` programs only",
      client: "yes (the program after `--`, e.g. `ssh`)",
    },
    {
      permission: "FFI",
      server: "libpcap and libc files only, no raw pointers",
      client: "libc files only, no raw pointers",
    },
    {
      permission: "network (Deno sockets)",
      server: "none (captures with libpcap, answers with a raw socket)",
      client: "yes (the udp transport's socket)",
    },
    {
      permission: "environment",
      server: "none",
      client: CLIENT_ENV.map((name) => `\`${name}\``).join(", "),
    },
    {
      permission: "system information, remote imports, prompts",
      server: "none",
      client: "none",
    },
  ];
}

/**
 * The permission table as the markdown the README carries.
 *
 * @example
 * ```ts
 * import { permissionTableMarkdown } from "./permissions.ts";
 * if (!permissionTableMarkdown().startsWith("| permission |")) throw new Error("bad header");
 * ```
 */
export function permissionTableMarkdown(): string {
  const lines = ["| permission | spa-server | spa-client |", "|---|---|---|"];
  for (const row of permissionTable()) {
    lines.push(`| ${row.permission} | ${row.server} | ${row.client} |`);
  }
  return lines.join("\n");
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
