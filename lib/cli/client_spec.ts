/**
 * `spa-client`'s command line: its commands, options and help text.
 *
 * @module
 */

import { CLIENT_HOST_DEFAULTS, MAX_PAD, MAX_RETRIES } from "../config/client.ts";
import { DEFAULT_CHECK_PORT } from "../client/options.ts";
import { DEFAULT_STANZA_HOST, DEFAULT_STANZA_PORT } from "../client/server_stanza.ts";
import { MIN_PASSPHRASE_LENGTH } from "../protocol/passphrase.ts";
import { versionLine } from "../version.ts";
import type { CommandSpec, OptionSpec } from "./spec.ts";

const HELP_AFTER = `
Examples:
  spa-client --host web1 --port 22 -- ssh alice@{address}
  spa-client --host 203.0.113.5 --uid 1000 --key-file ~/.config/spa/keys/alice.key --port 22 --transport udp
  spa-client keygen --uid 1000 --name alice --host web1
  spa-client provision --host web1 --out alice.key   # the server's key: copy to /etc/spa/keys/
  spa-client check --all            # from cron: */30 * * * * spa-client check --all
  spa-client resync --host web1

Placeholders in the program after -- (and in a host's exec): {host} the host as named,
{address} its address, {port} the port opened.

Files:
  $XDG_CONFIG_HOME/spa/client.toml (else ~/.config/spa/client.toml)   hosts and their settings
  $XDG_STATE_HOME/spa/hosts/<host>.json (else ~/.local/state/spa/...)  each host's sequence state
  ~/.config/spa/keys/<name>.key                                        key files (mode 0600)

Exit codes:
  0  success; check: the host is in sync
  1  runtime failure: no ack, host unreachable, clock off, state file unusable
  2  usage error: bad option, unknown host, bad config, unusable key file
  3  check: the host was out of sync and has been resynced
  N  after --, the program's own exit code`;

const CONFIG_OPTION: OptionSpec = {
  flags: "--config <file>",
  description: "client config (default: $XDG_CONFIG_HOME/spa/client.toml)",
};

/** The options of every command that talks to a host (knock, resync, check). */
function targetOptions(portHelp: string): OptionSpec[] {
  const d = CLIENT_HOST_DEFAULTS;
  return [
    {
      flags: "--host <host>",
      description: "a host name from the config, or an IP address or DNS name",
    },
    { flags: "--port <port>", description: portHelp },
    CONFIG_OPTION,
    {
      flags: "--transport <transport>",
      description: `syn (raw SYN, needs root) or udp (default: the host's, else ${d.transport})`,
    },
    {
      flags: "--via-port <port>",
      description:
        "send to this port instead, to get past a firewall (default: the host's via_port)",
    },
    {
      flags: "--bind-source <source>",
      description:
        `bind the knock to its source address: auto, none or an address (default: the host's, else ${d.bind_source})`,
    },
    {
      flags: "--pad <bytes>",
      description:
        `random bytes before the trailer, 0-${MAX_PAD} (default: the host's, else ${d.pad})`,
    },
    {
      flags: "--timeout <duration>",
      description: `wait for each reply, e.g. 500ms, 2s (default: the host's, else ${d.timeout})`,
    },
    {
      flags: "--retries <n>",
      description:
        `sends after the first, 0-${MAX_RETRIES} (default: the host's, else ${d.retries})`,
    },
    {
      flags: "--server-id <id>",
      description: "the server's server_id (default: the host's server_id, else the host as given)",
    },
    {
      flags: "--uid <uid>",
      description: "user id, for a host that is not in the config (default: the host's)",
    },
    {
      flags: "--key-file <file>",
      description: "key file, for a host that is not in the config (default: the host's)",
    },
    { flags: "-v, --verbose", description: "describe each step on stderr" },
    { flags: "--json", description: "print the outcome as one JSON object on stdout" },
  ];
}

const SEND_PORT = `port to send to (default: the host's port, else ${DEFAULT_CHECK_PORT})`;

/** `spa-client` and its subcommands. */
export const CLIENT_PROGRAM: CommandSpec = {
  name: "spa-client",
  usage: "--host HOST [--port PORT] [options] [-- PROGRAM [ARGS...]]\n" +
    "       spa-client <command> [options]",
  description:
    "Single Packet Authentication client: sends one authenticated, encrypted knock to a host\n" +
    "protected by spa-server, waits for its signed ack, commits the rolled sequence number, and\n" +
    "then runs PROGRAM (or the host's exec), which exits with its own code.",
  version: versionLine("spa-client"),
  options: [
    ...targetOptions("port to open: 22, tcp/22 or udp/53 (default: the host's port)"),
    { flags: "--no-exec", description: "knock only: do not run the host's exec program" },
  ],
  helpAfter: HELP_AFTER,
  commands: [
    {
      name: "keygen",
      description:
        "write a new key file (mode 0600) and print the server and client config stanzas",
      options: [
        {
          flags: "--uid <uid>",
          description: "user id, the same on server and client",
          required: true,
        },
        {
          flags: "--name <name>",
          description: "user name in the server config; the key file is NAME.key",
          required: true,
        },
        {
          flags: "--out <dir>",
          description: "folder of the key file (default: $XDG_CONFIG_HOME/spa/keys)",
        },
        {
          flags: "--passphrase-file <file>",
          description:
            `stretch this file's passphrase (${MIN_PASSPHRASE_LENGTH}+ characters) into the secret`,
        },
        {
          flags: "--host <name>",
          description: `the server's name in the client stanza (default: ${DEFAULT_STANZA_HOST})`,
        },
        { flags: "--address <address>", description: "the server's address in the client stanza" },
        {
          flags: "--port <port>",
          description: `the port in both stanzas (default: ${DEFAULT_STANZA_PORT})`,
        },
        { flags: "--json", description: "print the result as one JSON object" },
      ],
    },
    {
      name: "provision",
      description:
        "print (or write, mode 0600) the key file one server needs: the key of that server only,\n" +
        "derived from your key file, so no server holds a key that works on another",
      options: [
        {
          flags: "--host <host>",
          description: "a host of the config (or any name, with --server-id etc.)",
          required: true,
        },
        CONFIG_OPTION,
        { flags: "--server-id <id>", description: "the server's server_id (default: the host's)" },
        { flags: "--uid <uid>", description: "user id (default: the host's)" },
        { flags: "--key-file <file>", description: "your key file (default: the host's)" },
        {
          flags: "--name <name>",
          description: "user name in the server config (default: the key file's name)",
        },
        {
          flags: "--port <port>",
          description:
            `the port the server stanza lists (default: the host's, else ${DEFAULT_STANZA_PORT})`,
        },
        {
          flags: "--out <file>",
          description: "write the server key file here instead of to stdout",
        },
        {
          flags: "--users-dir <dir>",
          description: "write NAME.key and the user file NAME.toml into this users_dir",
        },
        { flags: "--json", description: "print the result as one JSON object (without the key)" },
      ],
    },
    {
      name: "resync",
      description:
        "get a new sequence number from the host (keyed by the UTC minute) and confirm it",
      options: targetOptions(SEND_PORT),
    },
    {
      name: "check",
      description:
        "prove the host is in sync, rolling the sequence and opening nothing; resync if not",
      options: [
        ...targetOptions(SEND_PORT),
        { flags: "--all", description: "check every host of the config" },
      ],
    },
  ],
};
