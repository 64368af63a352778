/**
 * The client config (`$XDG_CONFIG_HOME/spa/client.toml`, else `~/.config/spa/client.toml`):
 *
 * ```toml
 * state_dir = "~/.local/state/spa"     # default: $XDG_STATE_HOME/spa
 *
 * [hosts.web1]
 * address = "203.0.113.5"             # an IP address or a DNS name
 * server_id = "web1"                  # the server's server_id (default: the table's name)
 * uid = 1000
 * key_file = "~/.config/spa/keys/alice.key"
 * port = 22                           # knocked when --port is not given
 * transport = "syn"                   # or "udp" (no root needed)
 * exec = ["ssh", "alice@{address}"]   # {host}, {address}, {port} are filled in
 * # via_port = 443  bind_source = "auto"  pad = 0  timeout = "2s"  retries = 3
 * ```
 *
 * The environment is read only through a lookup function passed in, so all of it is testable.
 * Errors have the server config's style: one line per problem, naming the key path.
 *
 * @module
 */

import { isValidName } from "../protocol/name.ts";
import { MAX_UID } from "../protocol/constants.ts";
import { MAX_PORT } from "../protocol/port.ts";
import { isValidServerId } from "../protocol/server_id.ts";
import { Fields, parseToml, Problems } from "./_fields.ts";
import { configDir, deepFreeze, expandHome, resolveConfigPath } from "./_paths.ts";
import { absolutePath, readConfigTextSync, statOrUndefinedSync } from "./_read.ts";
import { formatAddress, parseAddress } from "./address.ts";
import { ConfigError } from "./config_error.ts";
import { formatDuration, parseDuration } from "./duration.ts";

/** Looks up an environment variable (e.g. `(name) => Deno.env.get(name)`). */
export type EnvLookup = (name: string) => string | undefined;

/** How a knock travels: a raw TCP SYN (root) or a UDP datagram (no privileges). */
export type TransportKind = "syn" | "udp";

/** Every transport kind. */
export const TRANSPORT_KINDS: readonly TransportKind[] = ["syn", "udp"];

/**
 * Which source address a knock is bound to: the one the kernel would pick (`auto`), none, or a
 * given address (e.g. the public address behind a NAT).
 */
export type BindSource =
  | { readonly mode: "auto" }
  | { readonly mode: "none" }
  | { readonly mode: "address"; readonly address: string };

/** One `[hosts.NAME]` table. */
export interface ClientHostConfig {
  /** The table's name, as given on the command line (`--host NAME`). */
  readonly name: string;
  /** An IP address in canonical form, or a DNS name. */
  readonly address: string;
  /** The server's `server_id`, which every key is derived for (default: the table's name). */
  readonly serverId: string;
  /** The user id the server knows this key by. */
  readonly uid: number;
  /** Absolute path of the key file. */
  readonly keyFile: string;
  /** Port knocked when none is given on the command line. */
  readonly port: number | undefined;
  /** How the knock travels (`syn` or `udp`). */
  readonly transport: TransportKind;
  /** Program run after a successful knock, with `{host}`, `{address}`, `{port}` placeholders. */
  readonly exec: readonly string[] | undefined;
  /** Send the knock to this port instead of the one to open. */
  readonly viaPort: number | undefined;
  /** Which source address the knock is bound to. */
  readonly bindSource: BindSource;
  /** Random bytes before the trailer. */
  readonly pad: number;
  /** How long to wait for the ack of one attempt. */
  readonly timeoutMs: number;
  /** Attempts after the first. */
  readonly retries: number;
}

/** A validated client config. Every object in it is frozen. */
export interface ClientConfig {
  /** The file it came from, when there was one. */
  readonly path: string | undefined;
  /** The folder of the per-host sequence state. */
  readonly stateDir: string;
  /** The `[hosts.NAME]` tables, in file order. */
  readonly hosts: readonly ClientHostConfig[];
}

/** Defaults of a host's optional keys. */
export const CLIENT_HOST_DEFAULTS = Object.freeze(
  {
    transport: "syn",
    bind_source: "auto",
    pad: 0,
    timeout: "2s",
    retries: 3,
  } as const,
);

/** Most padding bytes before the trailer (the knock must fit one packet). */
export const MAX_PAD = 1024;

/** Shortest and longest `timeout` of a host (and `--timeout`), in milliseconds. */
export const TIMEOUT_RANGE_MS = { min: 10, max: 60_000 } as const;
/** Most `retries` of a host (and `--retries`). */
export const MAX_RETRIES = 100;
/** The default `timeout` ({@linkcode CLIENT_HOST_DEFAULTS}) in milliseconds. */
export const DEFAULT_TIMEOUT_MS: number = parseDuration(CLIENT_HOST_DEFAULTS.timeout);
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const PLACEHOLDERS = ["host", "address", "port"] as const;

/**
 * The default client config path: `$XDG_CONFIG_HOME/spa/client.toml`, else
 * `$HOME/.config/spa/client.toml`.
 *
 * @throws {ConfigError} When neither variable is set.
 * @example
 * ```ts
 * import { defaultClientConfigPath } from "./client.ts";
 * const env = (name: string) => ({ HOME: "/home/alice" } as Record<string, string>)[name];
 * if (defaultClientConfigPath(env) !== "/home/alice/.config/spa/client.toml") throw new Error();
 * ```
 */
export function defaultClientConfigPath(env: EnvLookup): string {
  return `${xdgDir(env, "XDG_CONFIG_HOME", ".config")}/spa/client.toml`;
}

/**
 * The default folder of the client's key files: `$XDG_CONFIG_HOME/spa/keys`, else
 * `$HOME/.config/spa/keys`.
 *
 * @throws {ConfigError} When neither variable is set.
 * @example
 * ```ts
 * import { defaultClientKeyDir } from "./client.ts";
 * const env = (name: string) => ({ HOME: "/home/alice" } as Record<string, string>)[name];
 * if (defaultClientKeyDir(env) !== "/home/alice/.config/spa/keys") throw new Error();
 * ```
 */
export function defaultClientKeyDir(env: EnvLookup): string {
  return `${xdgDir(env, "XDG_CONFIG_HOME", ".config")}/spa/keys`;
}

/**
 * The default client state folder: `$XDG_STATE_HOME/spa`, else `$HOME/.local/state/spa`.
 *
 * @throws {ConfigError} When neither variable is set.
 * @example
 * ```ts
 * import { defaultClientStateDir } from "./client.ts";
 * const env = (name: string) => ({ XDG_STATE_HOME: "/s", HOME: "/h" } as Record<string, string>)[name];
 * if (defaultClientStateDir(env) !== "/s/spa") throw new Error();
 * ```
 */
export function defaultClientStateDir(env: EnvLookup): string {
  return `${xdgDir(env, "XDG_STATE_HOME", ".local/state")}/spa`;
}

/**
 * Parses and validates client config text.
 *
 * @param text The TOML text.
 * @param options `env` for `~` and the default state folder; `path` of the file, against whose
 * folder relative paths resolve.
 * @throws {ConfigError} With every problem found.
 * @example
 * ```ts
 * import { parseClientConfig } from "./client.ts";
 * const env = (name: string) => (name === "HOME" ? "/home/alice" : undefined);
 * const config = parseClientConfig(`
 * [hosts.web1]
 * address = "203.0.113.5"
 * uid = 1000
 * key_file = "~/.config/spa/keys/alice.key"
 * exec = ["ssh", "alice@{address}"]
 * `, { env });
 * const host = config.hosts[0]!;
 * if (host.keyFile !== "/home/alice/.config/spa/keys/alice.key") throw new Error();
 * if (config.stateDir !== "/home/alice/.local/state/spa") throw new Error();
 * ```
 */
export function parseClientConfig(
  text: string,
  options: { env: EnvLookup; path?: string },
): ClientConfig {
  const problems = new Problems();
  const parsed = parseToml(text);
  if (parsed.reason !== undefined) throw new ConfigError(options.path, [parsed.reason]);
  const baseDir = configDir(options.path);
  const top = new Fields(parsed.value, "", problems);
  const path = (fields: Fields, key: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const home = expandHome(value, options.env);
    const resolved = home.reason === undefined ? resolveConfigPath(home.value, baseDir) : home;
    if (resolved.reason !== undefined) fields.problem(key, resolved.reason);
    return resolved.value;
  };
  let stateDir = path(top, "state_dir", top.string("state_dir"));
  if (stateDir === undefined && top.data.state_dir === undefined) {
    try {
      stateDir = defaultClientStateDir(options.env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      top.problem("state_dir", error.problems[0]!);
    }
  }
  const hosts: ClientHostConfig[] = [];
  const table = top.table("hosts");
  for (const name of Object.keys(table?.data ?? {})) {
    const fields = table!.table(name);
    if (fields === undefined) continue;
    if (!isValidName(name)) {
      table!.problem(name, `is not a host name (letters, digits, ".", "_", "-"; at most 64)`);
    }
    const host = readHost(fields, name, (key, value) => path(fields, key, value));
    if (host !== undefined) hosts.push(host);
  }
  top.finish();
  if (problems.lines.length > 0 || stateDir === undefined) {
    throw new ConfigError(options.path, problems.lines);
  }
  return deepFreeze({ path: options.path, stateDir, hosts });
}

/**
 * Reads the client config: `path`, or the default path (a missing default file is an empty
 * config, a missing given file an error).
 *
 * @throws {ConfigError} When the file is unreadable or invalid.
 * @example
 * ```ts
 * import { loadClientConfig } from "./client.ts";
 * const home = await Deno.makeTempDir();
 * const env = (name: string) => (name === "HOME" ? home : undefined);
 * if ((await loadClientConfig({ env })).hosts.length !== 0) throw new Error("no file: no hosts");
 * await Deno.writeTextFile(
 *   `${home}/client.toml`,
 *   `[hosts.web1]\naddress = "10.77.0.1"\nuid = 1000\nkey_file = "alice.key"\nport = 22\n`,
 * );
 * const config = await loadClientConfig({ env, path: `${home}/client.toml` });
 * if (config.hosts[0]?.name !== "web1") throw new Error("web1 not read");
 * await Deno.remove(home, { recursive: true });
 * ```
 */
export function loadClientConfig(
  options: { env: EnvLookup; path?: string },
): Promise<ClientConfig> {
  // Read synchronously: the client has nothing else to do yet, and every turn of the event loop
  // before its knock delays it.
  try {
    const given = options.path !== undefined;
    const path = absolutePath(options.path ?? defaultClientConfigPath(options.env));
    const text = !given && statOrUndefinedSync(path) === undefined ? "" : readConfigTextSync(path);
    return Promise.resolve(parseClientConfig(text, { env: options.env, path }));
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * The host called `name`, or `undefined`.
 *
 * @example
 * ```ts
 * import { findHost, parseClientConfig } from "./client.ts";
 * const config = parseClientConfig("", { env: () => "/root" });
 * if (findHost(config, "web1") !== undefined) throw new Error();
 * ```
 */
export function findHost(config: ClientConfig, name: string): ClientHostConfig | undefined {
  return config.hosts.find((host) => host.name === name);
}

/**
 * Parses a `bind_source`/`--bind-source` value: `auto`, `none` or an IP address.
 *
 * @throws {SyntaxError} When it is none of these.
 * @example
 * ```ts
 * import { parseBindSource } from "./client.ts";
 * const bind = parseBindSource("198.51.100.7");
 * if (bind.mode !== "address" || bind.address !== "198.51.100.7") throw new Error();
 * ```
 */
export function parseBindSource(text: string): BindSource {
  if (text === "auto" || text === "none") return { mode: text };
  const bytes = parseAddress(text);
  if (bytes === undefined) {
    throw new SyntaxError(
      `Cannot parse bind source: ${JSON.stringify(text)} is not "auto", "none" or an IP address`,
    );
  }
  return { mode: "address", address: formatAddress(bytes) };
}

/**
 * Fills `{host}`, `{address}` and `{port}` into an `exec` argv (other text is left as it is).
 *
 * @example
 * ```ts
 * import { expandExec } from "./client.ts";
 * const argv = expandExec(["ssh", "-p", "{port}", "alice@{address}"], {
 *   host: "web1", address: "203.0.113.5", port: 22,
 * });
 * if (argv.join(" ") !== "ssh -p 22 alice@203.0.113.5") throw new Error();
 * ```
 */
export function expandExec(
  argv: readonly string[],
  values: { host: string; address: string; port: number },
): string[] {
  const table: Record<string, string> = {
    host: values.host,
    address: values.address,
    port: String(values.port),
  };
  return argv.map((arg) => arg.replace(PLACEHOLDER, (whole, name) => table[name] ?? whole));
}

function readHost(
  fields: Fields,
  name: string,
  path: (key: string, value: string | undefined) => string | undefined,
): ClientHostConfig | undefined {
  const addressText = fields.string("address", { required: true });
  let address: string | undefined;
  if (addressText !== undefined) {
    const bytes = parseAddress(addressText);
    if (bytes !== undefined) address = formatAddress(bytes);
    else if (isDnsName(addressText)) address = addressText.toLowerCase();
    else {fields.problem(
        "address",
        `${JSON.stringify(addressText)} is not an IP address or DNS name`,
      );}
  }
  const serverIdText = fields.string("server_id");
  const serverId = serverIdText ?? name;
  // A default from a bad table name is reported once, as the name's problem.
  if (serverIdText !== undefined && !isValidServerId(serverIdText)) {
    fields.problem(
      "server_id",
      `${JSON.stringify(serverId)} is not a server id (letters, digits, ".", "_", "-"; at most 64)`,
    );
  }
  const uid = fields.integer("uid", 0, MAX_UID, { required: true, what: "not a uid" });
  const keyFile = path("key_file", fields.string("key_file", { required: true }));
  const port = fields.integer("port", 1, MAX_PORT, { what: "not a port" });
  const transport = fields.choice("transport", TRANSPORT_KINDS) ??
    CLIENT_HOST_DEFAULTS.transport;
  const exec = fields.argv("exec");
  exec?.forEach((arg, i) => {
    for (const match of arg.matchAll(PLACEHOLDER)) {
      if (!(PLACEHOLDERS as readonly string[]).includes(match[1]!)) {
        fields.problems.add(
          `${fields.pathOf("exec")}[${i}]`,
          `unknown placeholder "${match[0]}" (use {host}, {address} or {port})`,
        );
      }
    }
  });
  const viaPort = fields.integer("via_port", 1, MAX_PORT, { what: "not a port" });
  let bindSource: BindSource = { mode: CLIENT_HOST_DEFAULTS.bind_source };
  const bindText = fields.string("bind_source");
  if (bindText !== undefined) {
    try {
      bindSource = parseBindSource(bindText);
    } catch {
      fields.problem(
        "bind_source",
        `${JSON.stringify(bindText)} is not "auto", "none" or an IP address`,
      );
    }
  }
  if (bindSource.mode === "address" && address !== undefined) {
    const target = parseAddress(address);
    if (target !== undefined && target.length !== parseAddress(bindSource.address)!.length) {
      fields.problem("bind_source", `${bindSource.address} is not of the same family as address`);
    }
  }
  const pad = fields.integer("pad", 0, MAX_PAD, { what: "too many bytes" }) ??
    CLIENT_HOST_DEFAULTS.pad;
  const timeoutMs = fields.duration(
    "timeout",
    TIMEOUT_RANGE_MS.min,
    TIMEOUT_RANGE_MS.max,
    formatDuration(TIMEOUT_RANGE_MS.min),
    formatDuration(TIMEOUT_RANGE_MS.max),
  ) ?? DEFAULT_TIMEOUT_MS;
  const retries = fields.integer("retries", 0, MAX_RETRIES) ?? CLIENT_HOST_DEFAULTS.retries;
  fields.finish();
  if (address === undefined || uid === undefined || keyFile === undefined) return undefined;
  return {
    name,
    address,
    serverId,
    uid,
    keyFile,
    port,
    transport,
    exec,
    viaPort,
    bindSource,
    pad,
    timeoutMs,
    retries,
  };
}

function isDnsName(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.replace(/\.$/, "").split(".");
  if (labels.every((label) => /^\d+$/.test(label))) return false;
  return labels.every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function xdgDir(env: EnvLookup, variable: string, fallback: string): string {
  const xdg = env(variable);
  if (xdg !== undefined && xdg.startsWith("/")) return xdg.replace(/\/+$/, "");
  const home = env("HOME");
  if (home === undefined || home === "") {
    throw new ConfigError(undefined, [`neither ${variable} nor HOME is set`]);
  }
  return `${home.replace(/\/+$/, "")}/${fallback}`;
}
