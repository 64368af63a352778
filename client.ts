/**
 * `spa-client`: knocks on a host protected by `spa-server`, then runs a program (e.g. `ssh`).
 *
 * Exit codes: 0 success (`check`: in sync); 1 runtime failure (no ack, unreachable host, clock
 * off); 2 usage error, bad config or key file; 3 `check` only: resynced; after `--`, the program's
 * own exit code.
 *
 * @module
 */

import { parseArgs, type ParsedFlags, UsageError } from "./lib/cli/args.ts";
import { CLIENT_PROGRAM } from "./lib/cli/client_spec.ts";
import {
  type ClientConfig,
  defaultClientKeyDir,
  expandExec,
  loadClientConfig,
} from "./lib/config/client.ts";
import { ConfigError } from "./lib/config/config_error.ts";
import type { CheckStatus, SyncReport } from "./lib/client/check.ts";
import { ClientError, EXIT_CODES, usageError } from "./lib/client/errors.ts";
import { knock } from "./lib/client/knock.ts";
import type { ProvisionFlags } from "./lib/client/provision_command.ts";
import * as parse from "./lib/client/options.ts";
import {
  configuredTargets,
  resolveTarget,
  type Target,
  type TargetOverrides,
} from "./lib/client/target.ts";
import { StateFileError } from "./lib/state/client_store.ts";
import { formatPortSpec } from "./lib/protocol/port.ts";

const encoder = new TextEncoder();
const env = (name: string) => Deno.env.get(name);
const out = (text: string) => Deno.stdout.writeSync(encoder.encode(`${text}\n`));
const err = (text: string) => Deno.stderr.writeSync(encoder.encode(`${text}\n`));
const writeRaw = (text: string) => Deno.stdout.writeSync(encoder.encode(text));

function overridesOf(flags: ParsedFlags): TargetOverrides {
  const o: TargetOverrides = {};
  const given = (key: string) => flags.string(key);
  if (given("serverId") !== undefined) o.serverId = given("serverId")!;
  if (given("uid") !== undefined) o.uid = parse.parseUidOption(given("uid")!);
  if (given("keyFile") !== undefined) o.keyFile = given("keyFile")!;
  if (given("transport") !== undefined) {
    o.transport = parse.parseTransportOption(given("transport")!);
  }
  if (given("viaPort") !== undefined) o.viaPort = parse.parseViaPortOption(given("viaPort")!);
  if (given("bindSource") !== undefined) {
    o.bindSource = parse.parseBindSourceOption(given("bindSource")!);
  }
  if (given("pad") !== undefined) o.pad = parse.parsePadOption(given("pad")!);
  if (given("timeout") !== undefined) o.timeoutMs = parse.parseTimeoutOption(given("timeout")!);
  if (given("retries") !== undefined) o.retries = parse.parseRetriesOption(given("retries")!);
  return o;
}

async function configOf(flags: ParsedFlags): Promise<ClientConfig> {
  const path = flags.string("config");
  return await loadClientConfig(path === undefined ? { env } : { env, path });
}

function logOf(flags: ParsedFlags): (line: string) => void {
  return flags.flag("verbose") ? (line) => err(`spa-client: ${line}`) : () => {};
}

async function targetOf(flags: ParsedFlags, command: string): Promise<Target> {
  const overrides = overridesOf(flags);
  const host = flags.string("host");
  if (host === undefined) throw usageError(`Cannot ${command}: --host is required`);
  return await resolveTarget(await configOf(flags), host, overrides);
}

/** Runs the CLI with `args` (after the program name); returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const split = args.indexOf("--");
  const own = split < 0 ? args : args.slice(0, split);
  const after = split < 0 ? undefined : args.slice(split + 1);
  let json = own.includes("--json");
  try {
    const parsed = parseArgs(CLIENT_PROGRAM, own);
    if (parsed.kind !== "run") {
      writeRaw(parsed.text);
      return EXIT_CODES.ok;
    }
    const flags = parsed.flags;
    json = flags.flag("json");
    switch (parsed.command) {
      case undefined:
        return await knockCommand(flags, after);
      case "keygen":
        noProgram(after, "keygen");
        return await keygenCommand(flags);
      case "provision": {
        noProgram(after, "provision");
        const { provisionCommand } = await import("./lib/client/provision_command.ts");
        await provisionCommand(await configOf(flags), provisionFlags(flags), {
          out,
          err,
          raw: writeRaw,
        });
        return EXIT_CODES.ok;
      }
      case "resync": {
        noProgram(after, "resync");
        const { resyncHost } = await import("./lib/client/check.ts");
        const report = await resyncHost(
          await targetOf(flags, "resync"),
          portOf(flags),
          logOf(flags),
        );
        if (json) out(JSON.stringify({ ok: true, ...report }));
        return EXIT_CODES.ok;
      }
      default: {
        noProgram(after, "check");
        const all = flags.flag("all");
        if (all === (flags.string("host") !== undefined)) {
          throw usageError("Cannot check: give either --host HOST or --all");
        }
        const targets = all
          ? await configuredTargets(await configOf(flags), overridesOf(flags))
          : [await targetOf(flags, "check")];
        if (targets.length === 0) throw usageError("Cannot check --all: the config has no hosts");
        return await checkAll(targets, portOf(flags), flags, json);
      }
    }
  } catch (error) {
    return report(error, json);
  }
}

async function knockCommand(flags: ParsedFlags, after: string[] | undefined): Promise<number> {
  const target = await targetOf(flags, "knock");
  const port = flags.string("port");
  const open = port !== undefined
    ? parse.parsePortOption(port)
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
  const argv = after ?? (flags.flag("exec") ? target.exec : undefined);
  if (flags.flag("json")) out(JSON.stringify({ ok: true, ...report }));
  else if (argv === undefined || flags.flag("verbose")) {
    const where = `${target.name} (${target.addressText})`;
    out(`Opened ${formatPortSpec(open)} on ${where} in ${report.elapsedMs} ms`);
  }
  if (argv !== undefined && argv.length > 0) {
    const { runProgram } = await import("./lib/client/exec.ts");
    return await runProgram(
      expandExec(argv, { host: target.name, address: target.addressText, port: open.port }),
    );
  } else if (argv !== undefined) {
    throw usageError("Cannot run program: nothing follows --");
  }
  return EXIT_CODES.ok;
}

async function keygenCommand(flags: ParsedFlags): Promise<number> {
  // Loaded here: only keygen pays for its modules (and --passphrase-file for scrypt).
  const { keygen, readPassphraseFile } = await import("./lib/client/keygen.ts");
  const uid = parse.parseUidOption(flags.string("uid")!);
  const portText = flags.string("port");
  const port = portText === undefined ? undefined : parse.parseViaPortOption(portText);
  let outDir = flags.string("out");
  if (outDir === undefined) {
    try {
      outDir = defaultClientKeyDir(env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw usageError("Cannot write key file: give --out (HOME is not set)", error);
    }
  }
  const passphraseFile = flags.string("passphraseFile");
  const host = flags.string("host");
  const address = flags.string("address");
  const result = await keygen({
    uid,
    name: flags.string("name")!,
    outDir,
    ...(passphraseFile === undefined
      ? {}
      : { passphrase: await readPassphraseFile(passphraseFile) }),
    ...(host === undefined ? {} : { host }),
    ...(address === undefined ? {} : { address }),
    ...(port === undefined ? {} : { port }),
  });
  if (flags.flag("json")) {
    out(JSON.stringify({ ok: true, ...result }));
    return EXIT_CODES.ok;
  }
  out(`Wrote ${result.keyFile} (mode 0600): your master key. Keep it secret, on this`);
  out(
    `machine only. Each server gets its own key: spa-client provision --host ${result.host}\n`,
  );
  out(`Server, in /etc/spa/server.toml:\n${result.serverStanza}\n`);
  out(`Client, in ~/.config/spa/client.toml:\n${result.clientStanza}`);
  return EXIT_CODES.ok;
}

function provisionFlags(flags: ParsedFlags): ProvisionFlags {
  const result: ProvisionFlags = { host: flags.string("host")! };
  for (const key of ["serverId", "uid", "keyFile", "name", "port", "out", "usersDir"] as const) {
    const value = flags.string(key);
    if (value !== undefined) result[key] = value;
  }
  if (flags.flag("json")) result.json = true;
  return result;
}

function noProgram(after: string[] | undefined, command: string): void {
  if (after !== undefined) {
    throw usageError(`Cannot run a program after ${command}: only a knock runs one`);
  }
}

function portOf(flags: ParsedFlags): number | undefined {
  const port = flags.string("port");
  return port === undefined ? undefined : parse.parsePortOption(port).port;
}

async function checkAll(
  targets: Target[],
  port: number | undefined,
  flags: ParsedFlags,
  json: boolean,
): Promise<number> {
  const results: (SyncReport | { host: string; status: "failed"; error: string })[] = [];
  let worst: CheckStatus | "failed" = "in-sync";
  for (const target of targets) {
    try {
      const { checkHost } = await import("./lib/client/check.ts");
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
  if (json) {
    out(JSON.stringify(targets.length === 1 && !flags.flag("all") ? results[0] : results));
  }
  return worst === "failed"
    ? EXIT_CODES.failed
    : worst === "resynced"
    ? EXIT_CODES.resynced
    : EXIT_CODES.ok;
}

function report(error: unknown, json: boolean): number {
  let code: number = EXIT_CODES.failed;
  let message: string;
  if (error instanceof UsageError) {
    code = EXIT_CODES.usage;
    message = `Cannot parse the command line: ${error.message} (see spa-client --help)`;
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
