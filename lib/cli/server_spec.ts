/**
 * `spa-server`'s command line: its commands, options and help text.
 *
 * @module
 */

import { versionLine } from "../version.ts";
import type { CommandSpec, OptionSpec } from "./spec.ts";

/** The configuration file when `--config` is not given. */
export const DEFAULT_CONFIG = "/etc/spa/server.toml";

const EXIT_CODES = `
Exit codes:
  0  success
  1  runtime failure (capture, firewall, state folder), or status: no running daemon
  2  usage error, or the configuration is invalid (one line per problem)`;

const CONFIG_OPTION: OptionSpec = {
  flags: "-c, --config <file>",
  description: "configuration file",
  default: DEFAULT_CONFIG,
};

/** `spa-server` and its subcommands. */
export const SERVER_PROGRAM: CommandSpec = {
  name: "spa-server",
  usage: "[run] [--config FILE] [--log-format text|json]\n" +
    "       spa-server check-config [--config FILE]\n" +
    "       spa-server status [--config FILE] [--json]",
  description:
    "Single Packet Authentication daemon: keeps protected ports closed, sniffs every packet with\n" +
    "libpcap, and opens a port to one address for one authenticated knock; the kernel closes it\n" +
    "again when it sees no traffic for the idle timeout.",
  version: versionLine("spa-server"),
  options: [],
  defaultCommand: "run",
  helpCommand: true,
  helpAfter: `
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
  commands: [
    {
      name: "run",
      description: "run the daemon in the foreground, logging one line per event to stderr",
      options: [
        CONFIG_OPTION,
        {
          flags: "--log-format <format>",
          description: "log line format (default: the config's log_format)",
          choices: ["text", "json"],
        },
      ],
      helpAfter: `
Examples:
  spa-server run --config /etc/spa/server.toml
  spa-server run --log-format json 2>>/var/log/spa.jsonl
${EXIT_CODES}`,
    },
    {
      name: "check-config",
      description: "validate the configuration and every key file as run would; open nothing",
      options: [CONFIG_OPTION],
      helpAfter: `
Examples:
  spa-server check-config --config /etc/spa/server.toml && systemctl reload spa-server

Exit codes:
  0  the configuration and every key file are usable
  1  a file cannot be read (e.g. outside spa-server's permission set)
  2  one line per problem: key path and reason (unknown keys, bad values, key files readable by
     group or others, a key file holding another uid)`,
    },
    {
      name: "status",
      description: "show the live grants (user, address, port, time left) and the packet counters",
      options: [
        CONFIG_OPTION,
        {
          flags: "--json",
          description: 'print the status file as JSON, for scripts (adds "running")',
        },
      ],
      helpAfter: `
Examples:
  spa-server status
  spa-server status --json | jq '.grants[] | .address'

Exit codes:
  0  a daemon is running (it holds the state folder's lock; its status file is shown, with a
     warning when it was not rewritten in the last 15 s, e.g. a read-only state folder)
  1  no running daemon (any status file left is stale, and said so)
  2  usage error or invalid configuration`,
    },
  ],
};
