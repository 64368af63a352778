/**
 * `spa-client`: knocks on a host protected by `spa-server`, then runs a program (e.g. `ssh`).
 *
 * Exit codes: 0 success (`check`: in sync); 1 runtime failure (no ack, unreachable host, clock
 * off); 2 usage error, bad config or key file; 3 `check` only: resynced; after `--`, the program's
 * own exit code.
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import {
  CLIENT_HOST_DEFAULTS,
  type ClientConfig,
  expandExec,
  loadClientConfig,
  MAX_PAD,
} from "./lib/config/client.ts";
import { ConfigError } from "./lib/config/config_error.ts";
import { checkHost, type CheckStatus, resyncHost, type SyncReport } from "./lib/client/check.ts";
import { ClientError, EXIT_CODES, usageError } from "./lib/client/errors.ts";
import { runProgram } from "./lib/client/exec.ts";
import { keygen, readPassphraseFile } from "./lib/client/keygen.ts";
import { knock } from "./lib/client/knock.ts";
import { provisionCommand, type ProvisionFlags } from "./lib/client/provision_command.ts";
import * as parse from "./lib/client/options.ts";
import {
  configuredTargets,
  resolveTarget,
  type Target,
  type TargetOverrides,
} from "./lib/client/target.ts";
import { StateFileError } from "./lib/state/client_store.ts";
import { versionLine } from "./lib/version.ts";

const encoder = new TextEncoder();
const env = (name: string) => Deno.env.get(name);
const out = (text: string) => Deno.stdout.writeSync(encoder.encode(`${text}\n`));
const err = (text: string) => Deno.stderr.writeSync(encoder.encode(`${text}\n`));
const writeRaw = (text: string) => Deno.stdout.writeSync(encoder.encode(text));

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

/** Options every host command takes. */
interface TargetFlags {
  config?: string;
  host?: string;
  serverId?: string;
  uid?: string;
  keyFile?: string;
  transport?: string;
  viaPort?: string;
  bindSource?: string;
  pad?: string;
  timeout?: string;
  retries?: string;
  verbose?: boolean;
  json?: boolean;
}

function addTargetOptions(command: Command, portHelp: string): Command {
  const d = CLIENT_HOST_DEFAULTS;
  return command
    .option("--host <host>", "a host name from the config, or an IP address or DNS name")
    .option("--port <port>", portHelp)
    .option("--config <file>", "client config (default: $XDG_CONFIG_HOME/spa/client.toml)")
    .option(
      "--transport <transport>",
      `syn (raw SYN, needs root) or udp (default: the host's, else ${d.transport})`,
    )
    .option(
      "--via-port <port>",
      "send to this port instead, to get past a firewall (default: the host's via_port)",
    )
    .option(
      "--bind-source <source>",
      `bind the knock to its source address: auto, none or an address (default: the host's, else ${d.bind_source})`,
    )
    .option(
      "--pad <bytes>",
      `random bytes before the trailer, 0-${MAX_PAD} (default: the host's, else ${d.pad})`,
    )
    .option(
      "--timeout <duration>",
      `wait for each reply, e.g. 500ms, 2s (default: the host's, else ${d.timeout})`,
    )
    .option(
      "--retries <n>",
      `sends after the first, 0-${parse.MAX_RETRIES} (default: the host's, else ${d.retries})`,
    )
    .option(
      "--server-id <id>",
      "the server's server_id (default: the host's server_id, else the host as given)",
    )
    .option("--uid <uid>", "user id, for a host that is not in the config (default: the host's)")
    .option(
      "--key-file <file>",
      "key file, for a host that is not in the config (default: the host's)",
    )
    .option("-v, --verbose", "describe each step on stderr")
    .option("--json", "print the outcome as one JSON object on stdout");
}

function overridesOf(flags: TargetFlags): TargetOverrides {
  const o: TargetOverrides = {};
  if (flags.serverId !== undefined) o.serverId = flags.serverId;
  if (flags.uid !== undefined) o.uid = parse.parseUidOption(flags.uid);
  if (flags.keyFile !== undefined) o.keyFile = flags.keyFile;
  if (flags.transport !== undefined) o.transport = parse.parseTransportOption(flags.transport);
  if (flags.viaPort !== undefined) o.viaPort = parse.parseViaPortOption(flags.viaPort);
  if (flags.bindSource !== undefined) o.bindSource = parse.parseBindSourceOption(flags.bindSource);
  if (flags.pad !== undefined) o.pad = parse.parsePadOption(flags.pad);
  if (flags.timeout !== undefined) o.timeoutMs = parse.parseTimeoutOption(flags.timeout);
  if (flags.retries !== undefined) o.retries = parse.parseRetriesOption(flags.retries);
  return o;
}

async function configOf(flags: TargetFlags): Promise<ClientConfig> {
  return await loadClientConfig(flags.config === undefined ? { env } : { env, path: flags.config });
}

function logOf(flags: TargetFlags): (line: string) => void {
  return flags.verbose ? (line) => err(`spa-client: ${line}`) : () => {};
}

async function targetOf(flags: TargetFlags, command: string): Promise<Target> {
  const overrides = overridesOf(flags);
  if (flags.host === undefined) throw usageError(`Cannot ${command}: --host is required`);
  return await resolveTarget(await configOf(flags), flags.host, overrides);
}

/** Runs the CLI with `args` (after the program name); returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const split = args.indexOf("--");
  const own = split < 0 ? args : args.slice(0, split);
  const after = split < 0 ? undefined : args.slice(split + 1);
  let code: number = EXIT_CODES.ok;
  let json = own.includes("--json");

  const root = addTargetOptions(
    new Command("spa-client")
      .usage(
        "--host HOST [--port PORT] [options] [-- PROGRAM [ARGS...]]\n       spa-client <command> [options]",
      )
      .description(
        "Single Packet Authentication client: sends one authenticated, encrypted knock to a host\n" +
          "protected by spa-server, waits for its signed ack, commits the rolled sequence number, and\n" +
          "then runs PROGRAM (or the host's exec), which exits with its own code.",
      )
      .version(
        versionLine("spa-client"),
        "-V, --version",
        "print the version and the protocol version",
      )
      .helpOption("-h, --help", "show this help")
      .enablePositionalOptions()
      .exitOverride()
      .configureOutput({
        writeOut: (text) => Deno.stdout.writeSync(encoder.encode(text)),
        writeErr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
        outputError: () => {},
        getOutHasColors: () => false,
        getErrHasColors: () => false,
        getOutHelpWidth: () => 100,
        getErrHelpWidth: () => 100,
      })
      .addHelpText("after", HELP_AFTER),
    "port to open: 22, tcp/22 or udp/53 (default: the host's port)",
  ).option("--no-exec", "knock only: do not run the host's exec program");

  root.action(async (flags: TargetFlags & { port?: string; exec: boolean }) => {
    json = flags.json === true;
    const target = await targetOf(flags, "knock");
    const open = flags.port !== undefined
      ? parse.parsePortOption(flags.port)
      : target.port !== undefined
      ? { protocol: "tcp" as const, port: target.port }
      : undefined;
    if (open === undefined) {
      throw usageError(
        `Cannot knock on ${target.name}: give --port (the config names no port for it)`,
      );
    }
    const report = await knock(target, open, logOf(flags));
    if (report.resynced) {
      err(`spa-client: ${target.name} was out of sync: resynced by itself, then knocked again`);
    }
    const argv = after ?? (flags.exec ? target.exec : undefined);
    if (json) out(JSON.stringify({ ok: true, ...report }));
    else if (argv === undefined || flags.verbose) {
      out(
        `Opened ${open.protocol}/${open.port} on ${target.name} (${target.addressText}) in ${report.elapsedMs} ms`,
      );
    }
    if (argv !== undefined && argv.length > 0) {
      code = await runProgram(
        expandExec(argv, { host: target.name, address: target.addressText, port: open.port }),
      );
    } else if (argv !== undefined) {
      throw usageError("Cannot run program: nothing follows --");
    }
  });

  root.command("keygen")
    .description("write a new key file (mode 0600) and print the server and client config stanzas")
    .requiredOption("--uid <uid>", "user id, the same on server and client")
    .requiredOption("--name <name>", "user name in the server config; the key file is NAME.key")
    .option("--out <dir>", "folder of the key file (default: $XDG_CONFIG_HOME/spa/keys)")
    .option(
      "--passphrase-file <file>",
      "stretch this file's passphrase (12+ characters) into the secret",
    )
    .option("--host <name>", "the server's name in the client stanza (default: myserver)")
    .option("--address <address>", "the server's address in the client stanza")
    .option("--port <port>", "the port in both stanzas (default: 22)")
    .option("--json", "print the result as one JSON object")
    .action(async (flags: {
      uid: string;
      name: string;
      out?: string;
      passphraseFile?: string;
      host?: string;
      address?: string;
      port?: string;
      json?: boolean;
    }) => {
      json = flags.json === true;
      noProgram(after, "keygen");
      const uid = parse.parseUidOption(flags.uid);
      const port = flags.port === undefined ? undefined : parse.parseViaPortOption(flags.port);
      const configHome = env("XDG_CONFIG_HOME")?.startsWith("/")
        ? env("XDG_CONFIG_HOME")
        : env("HOME") === undefined
        ? undefined
        : `${env("HOME")}/.config`;
      const outDir = flags.out ?? (configHome === undefined ? undefined : `${configHome}/spa/keys`);
      if (outDir === undefined) {
        throw usageError("Cannot write key file: give --out (HOME is not set)");
      }
      const result = await keygen({
        uid,
        name: flags.name,
        outDir,
        ...(flags.passphraseFile === undefined
          ? {}
          : { passphrase: await readPassphraseFile(flags.passphraseFile) }),
        ...(flags.host === undefined ? {} : { host: flags.host }),
        ...(flags.address === undefined ? {} : { address: flags.address }),
        ...(port === undefined ? {} : { port }),
      });
      if (json) {
        out(JSON.stringify({ ok: true, ...result }));
        return;
      }
      out(`Wrote ${result.keyFile} (mode 0600): your master key. Keep it secret, on this`);
      out(
        `machine only. Each server gets its own key: spa-client provision --host ${result.host}\n`,
      );
      out(`Server, in /etc/spa/server.toml:\n${result.serverStanza}\n`);
      out(`Client, in ~/.config/spa/client.toml:\n${result.clientStanza}`);
    });

  root.command("provision")
    .description(
      "print (or write, mode 0600) the key file one server needs: the key of that server only,\n" +
        "derived from your key file, so no server holds a key that works on another",
    )
    .requiredOption("--host <host>", "a host of the config (or any name, with --server-id etc.)")
    .option("--config <file>", "client config (default: $XDG_CONFIG_HOME/spa/client.toml)")
    .option("--server-id <id>", "the server's server_id (default: the host's)")
    .option("--uid <uid>", "user id (default: the host's)")
    .option("--key-file <file>", "your key file (default: the host's)")
    .option("--name <name>", "user name in the server config (default: the key file's name)")
    .option("--port <port>", "the port the server stanza lists (default: the host's, else 22)")
    .option("--out <file>", "write the server key file here instead of to stdout")
    .option("--users-dir <dir>", "write NAME.key and the user file NAME.toml into this users_dir")
    .option("--json", "print the result as one JSON object (without the key)")
    .action(async (flags: ProvisionFlags & { config?: string }) => {
      json = flags.json === true;
      noProgram(after, "provision");
      await provisionCommand(await configOf(flags), flags, { out, err, raw: writeRaw });
    });

  addTargetOptions(
    root.command("resync")
      .description(
        "get a new sequence number from the host (keyed by the UTC minute) and confirm it",
      ),
    "port to send to (default: the host's port, else 22)",
  ).action(async (flags: TargetFlags & { port?: string }) => {
    json = flags.json === true;
    noProgram(after, "resync");
    const report = await resyncHost(await targetOf(flags, "resync"), portOf(flags), logOf(flags));
    if (json) out(JSON.stringify({ ok: true, ...report }));
  });

  addTargetOptions(
    root.command("check")
      .description(
        "prove the host is in sync, rolling the sequence and opening nothing; resync if not",
      ),
    "port to send to (default: the host's port, else 22)",
  ).option("--all", "check every host of the config")
    .action(async (flags: TargetFlags & { port?: string; all?: boolean }) => {
      json = flags.json === true;
      noProgram(after, "check");
      if (Boolean(flags.all) === (flags.host !== undefined)) {
        throw usageError("Cannot check: give either --host HOST or --all");
      }
      const targets = flags.all
        ? await configuredTargets(await configOf(flags), overridesOf(flags))
        : [await targetOf(flags, "check")];
      if (targets.length === 0) throw usageError("Cannot check --all: the config has no hosts");
      code = await checkAll(targets, portOf(flags), flags, json);
    });

  try {
    await root.parseAsync(own, { from: "user" });
    return code;
  } catch (error) {
    return report(error, json);
  }
}

function noProgram(after: string[] | undefined, command: string): void {
  if (after !== undefined) {
    throw usageError(`Cannot run a program after ${command}: only a knock runs one`);
  }
}

function portOf(flags: { port?: string }): number | undefined {
  return flags.port === undefined ? undefined : parse.parsePortOption(flags.port).port;
}

async function checkAll(
  targets: Target[],
  port: number | undefined,
  flags: TargetFlags & { all?: boolean },
  json: boolean,
): Promise<number> {
  const results: (SyncReport | { host: string; status: "failed"; error: string })[] = [];
  let worst: CheckStatus | "failed" = "in-sync";
  for (const target of targets) {
    try {
      const result = await checkHost(target, port, logOf(flags));
      results.push(result);
      if (result.status === "resynced") {
        if (worst === "in-sync") worst = "resynced";
        if (!json) out(`${target.name}: was out of sync; resynced`);
      }
    } catch (error) {
      if (
        !(error instanceof ClientError || error instanceof StateFileError ||
          error instanceof ConfigError)
      ) {
        throw error;
      }
      worst = "failed";
      results.push({ host: target.name, status: "failed", error: error.message });
      if (!json) err(`spa-client: ${target.name}: ${error.message}`);
    }
  }
  if (json) out(JSON.stringify(targets.length === 1 && flags.all !== true ? results[0] : results));
  return worst === "failed"
    ? EXIT_CODES.failed
    : worst === "resynced"
    ? EXIT_CODES.resynced
    : EXIT_CODES.ok;
}

function report(error: unknown, json: boolean): number {
  let code: number = EXIT_CODES.failed;
  let message: string;
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return EXIT_CODES.ok; // --help, --version
    code = EXIT_CODES.usage;
    message = `Cannot parse the command line: ${
      error.message.replace(/^error: /, "")
    } (see spa-client --help)`;
  } else if (error instanceof ClientError) {
    code = error.exitCode;
    message = error.message;
  } else if (error instanceof ConfigError) {
    code = EXIT_CODES.usage;
    message = error.message;
  } else if (error instanceof StateFileError) {
    message = `${error.message}; remove it and run spa-client resync`;
  } else if (error instanceof Deno.errors.NotCapable) {
    message =
      `Cannot run: ${error.message} (outside spa-client's permission set; see README, Permissions)`;
  } else {
    message = `Cannot run spa-client: ${(error as Error)?.message ?? String(error)}`;
  }
  if (json) out(JSON.stringify({ ok: false, exitCode: code, error: message }));
  else err(`spa-client: ${message}`);
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
