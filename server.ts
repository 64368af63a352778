/**
 * `spa-server`: the Single Packet Authentication daemon.
 *
 * Exit codes: 0 success; 1 runtime failure (or `status` finds no running daemon); 2 usage error or
 * invalid configuration.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "./lib/config/config_error.ts";
import { loadServerConfig, loadStateDir } from "./lib/config/server_load.ts";
import { Daemon } from "./lib/server/daemon.ts";
import { formatStatus, readStatus, STATUS_STALE_MS } from "./lib/server/status.ts";
import { stateDirHolder } from "./lib/server/state_dir.ts";
import { versionLine } from "./lib/version.ts";

const DEFAULT_CONFIG = "/etc/spa/server.toml";

const EXIT_CODES = `
Exit codes:
  0  success
  1  runtime failure (capture, firewall, state folder), or status: no running daemon
  2  usage error, or the configuration is invalid (one line per problem)`;

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

function program(): Command {
  const root = new Command("spa-server")
    .description(
      "Single Packet Authentication daemon: keeps protected ports closed, sniffs every packet with\n" +
        "libpcap, and opens a port to one address for one authenticated knock; the kernel closes it\n" +
        "again when it sees no traffic for the idle timeout.",
    )
    .usage(
      "[run] [--config FILE] [--log-format text|json]\n" +
        "       spa-server check-config [--config FILE]\n" +
        "       spa-server status [--config FILE] [--json]",
    )
    .version(
      versionLine("spa-server"),
      "-V, --version",
      "print the version and the protocol version",
    )
    .helpOption("-h, --help", "show this help")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => Deno.stdout.writeSync(encoder.encode(text)),
      writeErr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      getOutHelpWidth: () => 100,
      getErrHelpWidth: () => 100,
    })
    .showHelpAfterError("(run spa-server --help for usage)")
    .addHelpText(
      "after",
      `
Examples:
  spa-server run --config /etc/spa/server.toml
  spa-server check-config --config /etc/spa/server.toml
  spa-server status --json

Files:
  ${DEFAULT_CONFIG}   the configuration (see examples/server.toml)
  <state_dir>/users/<uid>.json   each user's sequence state (written durably)
  <state_dir>/status.json        live grants and counters, read by "status"
  <state_dir>/spa-server.pid     the running daemon's pid and lock, read by "status"

Signals (run):
  SIGHUP           reload the configuration, keeping live grants (a bad config is refused);
                   grants the new config no longer allows are closed at once
  SIGTERM, SIGINT  close every grant, run the on_close commands, exit 0
${EXIT_CODES}`,
    );

  const configOption = () =>
    new Option("-c, --config <file>", "configuration file").default(DEFAULT_CONFIG);

  root.command("run", { isDefault: true })
    .description("run the daemon in the foreground, logging one line per event to stderr")
    .addOption(configOption())
    .addOption(
      new Option("--log-format <format>", "log line format (default: the config's log_format)")
        .choices(["text", "json"]),
    )
    .addHelpText(
      "after",
      `
Examples:
  spa-server run --config /etc/spa/server.toml
  spa-server run --log-format json 2>>/var/log/spa.jsonl
${EXIT_CODES}`,
    )
    .action(async (options: { config: string; logFormat?: "text" | "json" }) => {
      const daemon = await Daemon.start(
        options.config,
        options.logFormat ? { logFormat: options.logFormat } : {},
      );
      await daemon.finished;
      // The daemon logged why; a supervisor restarts on a non-zero exit only.
      if (daemon.failure !== undefined) throw new Exit(1, "");
    });

  root.command("check-config")
    .description("validate the configuration and every key file as run would; open nothing")
    .addOption(configOption())
    .addHelpText(
      "after",
      `
Examples:
  spa-server check-config --config /etc/spa/server.toml && systemctl reload spa-server

Exit codes:
  0  the configuration and every key file are usable
  1  a file cannot be read (e.g. outside spa-server's permission set)
  2  one line per problem: key path and reason (unknown keys, bad values, key files readable by
     group or others, a key file holding another uid)`,
    )
    .action(async (options: { config: string }) => {
      const { config } = await loadServerConfig(options.config);
      out(
        `${options.config}: ok (${config.users.length} users, ports ${
          config.ports.map((p) => `${p.protocol}/${p.port}`).join(", ")
        })`,
      );
    });

  root.command("status")
    .description("show the live grants (user, address, port, time left) and the packet counters")
    .addOption(configOption())
    .option("--json", 'print the status file as JSON, for scripts (adds "running")')
    .addHelpText(
      "after",
      `
Examples:
  spa-server status
  spa-server status --json | jq '.grants[] | .address'

Exit codes:
  0  a daemon is running (it holds the state folder's lock; its status file is shown, with a
     warning when it was not rewritten in the last 15 s, e.g. a read-only state folder)
  1  no running daemon (any status file left is stale, and said so)
  2  usage error or invalid configuration`,
    )
    .action(async (options: { config: string; json?: boolean }) => {
      // Only state_dir: no key file, no users_dir (fast with any number of users).
      const config = { stateDir: await loadStateDir(options.config) };
      // The lock says whether a daemon lives; the status file's age only whether it is current.
      const { running, pid } = await stateDirHolder(config.stateDir);
      const status = await readStatus(config.stateDir);
      if (status === undefined) {
        if (!running) {
          throw new Exit(1, `spa-server: not running (no status in ${config.stateDir})`);
        }
        out(
          options.json
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
        options.json
          ? JSON.stringify({ ...status, running, stale }, null, 2)
          : formatStatus(status, Date.now(), running),
      );
      if (!running) throw new Exit(1, "");
    });
  return root;
}

/** Runs the CLI; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    await program().parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
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
