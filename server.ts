/**
 * `spa-server`: the Single Packet Authentication daemon.
 *
 * Exit codes: 0 success; 1 runtime failure (or `status` finds no running daemon); 2 usage error or
 * invalid configuration.
 *
 * @module
 */

import { parseArgs, type ParsedFlags, UsageError } from "./lib/cli/args.ts";
import { DEFAULT_CONFIG, SERVER_PROGRAM } from "./lib/cli/server_spec.ts";
import { ConfigError } from "./lib/config/config_error.ts";
import { loadServerConfig, loadStateDir } from "./lib/config/server_load.ts";
import { Daemon } from "./lib/server/daemon.ts";
import type { LogFormat } from "./lib/server/log.ts";
import { formatStatus, readStatus, STATUS_STALE_MS } from "./lib/server/status.ts";
import { stateDirHolder } from "./lib/server/state_dir.ts";
import { formatPortSpec } from "./lib/protocol/port.ts";
import { releaseStartupMemory } from "./lib/server/release_heap.ts";

const encoder = new TextEncoder();
function out(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}
function err(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text + "\n"));
}

/** An error that ends the program with a given exit code and message. */
class Exit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

async function run(flags: ParsedFlags): Promise<void> {
  releaseStartupMemory(); // what loading the modules touched
  const logFormat = flags.string("logFormat") as LogFormat | undefined;
  const daemon = await Daemon.start(configOf(flags), {
    ...(logFormat ? { logFormat } : {}),
    releaseProgramPages: true,
  });
  await daemon.finished;
  // The daemon logged why; a supervisor restarts on a non-zero exit only.
  if (daemon.failure !== undefined) throw new Exit(1, "");
}

async function checkConfig(flags: ParsedFlags): Promise<void> {
  const { config } = await loadServerConfig(configOf(flags));
  out(
    `${configOf(flags)}: ok (${config.users.length} users, ports ${
      config.ports.map(formatPortSpec).join(", ")
    })`,
  );
}

async function status(flags: ParsedFlags): Promise<void> {
  const json = flags.flag("json");
  // Only state_dir: no key file, no users_dir (fast with any number of users).
  const config = { stateDir: await loadStateDir(configOf(flags)) };
  // The lock says whether a daemon lives; the status file's age only whether it is current.
  const { running, pid } = await stateDirHolder(config.stateDir);
  const status = await readStatus(config.stateDir);
  if (status === undefined) {
    if (!running) {
      throw new Exit(1, `spa-server: not running (no status in ${config.stateDir})`);
    }
    out(
      json
        ? JSON.stringify({ running, stale: true, ...(pid ? { pid } : {}) }, null, 2)
        : `spa-server: running, pid ${
          pid ?? "?"
        }, but it has written no status in ${config.stateDir}`,
    );
    return;
  }
  // Stale: left by a daemon that has gone, or not rewritten lately by the live one.
  const stale = !running || Date.now() - Date.parse(status.updatedAt) > STATUS_STALE_MS;
  // A live daemon's pid is the one in its lock file (the status file may be an older one's).
  if (running && pid !== undefined) status.pid = pid;
  out(
    json
      ? JSON.stringify({ ...status, running, stale }, null, 2)
      : formatStatus(status, Date.now(), running),
  );
  if (!running) throw new Exit(1, "");
}

function configOf(flags: ParsedFlags): string {
  return flags.string("config") ?? DEFAULT_CONFIG;
}

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const parsed = parseArgs(SERVER_PROGRAM, args);
    if (parsed.kind !== "run") {
      Deno.stdout.writeSync(encoder.encode(parsed.text));
      return 0;
    }
    if (parsed.command === "check-config") await checkConfig(parsed.flags);
    else if (parsed.command === "status") await status(parsed.flags);
    else await run(parsed.flags);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      err(`spa-server: Cannot parse the command line: ${error.message} (see spa-server --help)`);
      return 2;
    }
    if (error instanceof Exit) {
      if (error.message !== "") err(error.message);
      return error.code;
    }
    if (error instanceof ConfigError) {
      const prefix = error.path === undefined ? "" : `${error.path}: `;
      for (const problem of error.problems) err(`${prefix}${problem}`);
      return 2;
    }
    if (error instanceof Deno.errors.NotCapable) {
      err(
        `spa-server: ${error.message} (outside spa-server's permission set; see README, Permissions)`,
      );
      return 1;
    }
    err(`spa-server: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
