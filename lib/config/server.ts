/**
 * The server config (`/etc/spa/server.toml`): parse and validate TOML text into a typed, frozen
 * {@linkcode ServerConfig}. Pure: reads no file (the key files are read by
 * {@linkcode loadServerConfig} in `server_load.ts`). Every problem of the file is reported at once,
 * one line each naming the key path; unknown keys are errors at every level.
 *
 * `[ports."tcp/22"]` tables that no user lists are errors (a typo there would otherwise silently
 * lose an `on_open` command or an idle timeout).
 *
 * @module
 */

import type { FirewallKind } from "../firewall/backend.ts";
import { TABLE_NAME } from "../firewall/nft_script.ts";
import { isValidServerId } from "../protocol/server_id.ts";
import { Fields, Problems } from "./_fields.ts";
import { type Busy, runSteps, runStepsSliced } from "./_pause.ts";
import { parseTomlSteps } from "./_toml_split.ts";
import { configDir, deepFreeze, resolveConfigPath } from "./_paths.ts";
import { ConfigError } from "./config_error.ts";
import { parseByteSize } from "./byte_size.ts";
import { DAY_MS, HOUR_MS, MINUTE_MS, parseDuration, SECOND_MS } from "./duration.ts";
import {
  type KeyFileRef,
  type PortConfig,
  readIdle,
  readPorts,
  readUsers,
  type UserConfig,
} from "./_server_sections.ts";
import { SERVER_DEFAULTS } from "./_server_defaults.ts";

export type { KeyFileRef, PortConfig, UserConfig } from "./_server_sections.ts";
export { SERVER_DEFAULTS } from "./_server_defaults.ts";

export type { FirewallKind };
/** How the daemon writes its log lines: `text` (key=value) or `json` (one object per line). */
export type LogFormat = "text" | "json";

/** Per-source limit on failed verifications (token bucket), with bounded memory. */
export interface RateLimitConfig {
  /** Tokens (failed verifications) a source earns back per second. */
  readonly failedPerSecond: number;
  /** Failed verifications a source may make at once. */
  readonly failedBurst: number;
  /** Most sources tracked at once; the oldest are forgotten first. */
  readonly trackedSources: number;
}

/** A validated server config. Every object in it is frozen. */
export interface ServerConfig {
  /** The file it came from, when it came from one. */
  readonly path: string | undefined;
  /**
   * This server's id (protocol 2): every key is derived for it, so a packet sealed for another
   * server never verifies here. Clients name it in their host entry.
   */
  readonly serverId: string;
  /** Capture interfaces, or `["any"]`. */
  readonly interfaces: readonly string[];
  /** The folder of the per-user sequence state and the status file. */
  readonly stateDir: string;
  /** Which firewall backend opens ports. */
  readonly firewall: FirewallKind;
  /** Name of the nft table (family inet) the daemon owns. */
  readonly nftTable: string;
  /** A grant closes after this long without traffic (ports without their own `idle_timeout`). */
  readonly idleTimeoutMs: number;
  /** Knocks older or newer than this (by their timestamp) are refused. */
  readonly maxPacketAgeMs: number;
  /** How long a resynced user's old number is still accepted. */
  readonly resyncGraceMs: number;
  /** How log lines are written. */
  readonly logFormat: LogFormat;
  /** Time limit of each `on_open`/`on_close` command. */
  readonly commandTimeoutMs: number;
  /** Time limit of each `nft` run; nft is killed past it and the knock is not answered. */
  readonly nftTimeoutMs: number;
  /**
   * How a protected port answers a packet without a grant: `"drop"` (nothing: the port shows as
   * filtered) or `"reject"` (like the host's closed ports: TCP RST, ICMP port unreachable).
   */
  readonly protectedResponse: "drop" | "reject";
  /** Kernel capture buffer per interface, in bytes. */
  readonly captureBufferBytes: number;
  /** Put the capture interfaces in promiscuous mode. */
  readonly promiscuous: boolean;
  /**
   * Optional BPF pre-filter (opt-in; by default every packet is inspected). A trailer may ride on
   * any packet, of any protocol, to any port, which is the point of SPA; a filter (e.g.
   * `"tcp[tcpflags] & tcp-syn != 0 or udp"`) saves CPU on busy links but silently ignores knocks
   * carried any other way, and tells a reader of the config which packets can carry one.
   */
  readonly bpfFilter: string | undefined;
  /** A libpcap file to load instead of the standard ones. */
  readonly libpcapPath: string | undefined;
  /** The per-source limit on failed verifications. */
  readonly rateLimit: RateLimitConfig;
  /** Authenticated tags remembered per user against replays. */
  readonly replayCapacity: number;
  /**
   * A folder of user files (`*.toml`, one user each, same keys as a `[[users]]` entry), read with
   * the config and on every reload; `undefined` when not set. The users read from it are in
   * `users` only after {@linkcode loadServerConfig}.
   */
  readonly usersDir: string | undefined;
  /** The users, from `[[users]]` and (after loading) `users_dir`. */
  readonly users: readonly UserConfig[];
  /** Every port some user may open, in order of first mention. */
  readonly ports: readonly PortConfig[];
}

const MIB = 1024 * 1024;

/** What {@linkcode checkServerConfig} found: a config, or problems; key files to check either way. */
export interface ServerConfigCheck {
  /** The config, when there were no problems. */
  readonly config: ServerConfig | undefined;
  /** One line per problem. */
  readonly problems: readonly string[];
  /** The key files the loader should read. */
  readonly keyFiles: readonly KeyFileRef[];
}

/**
 * Parses and validates server config text.
 *
 * @param text The TOML text.
 * @param options `path`: the file it came from; relative paths resolve against its folder.
 * @throws {ConfigError} With every problem found.
 * @example
 * ```ts
 * import { parseServerConfig } from "./server.ts";
 * const config = parseServerConfig(`
 * server_id = "web1"
 * interfaces = ["eth0"]
 * [[users]]
 * uid = 1000
 * name = "alice"
 * key_file = "keys/alice.key"
 * ports = ["tcp/22"]
 * `, { path: "/etc/spa/server.toml" });
 * if (config.users[0]!.keyFile !== "/etc/spa/keys/alice.key") throw new Error();
 * if (config.ports[0]!.idleTimeoutMs !== 300_000) throw new Error();
 * ```
 */
export function parseServerConfig(text: string, options: { path?: string } = {}): ServerConfig {
  const check = checkServerConfig(text, options);
  if (check.config === undefined) throw new ConfigError(options.path, check.problems);
  return check.config;
}

/**
 * Like {@linkcode parseServerConfig} but returns the problems, and the key files of the users
 * whose `uid` and `key_file` are valid, so a loader can report their problems too.
 *
 * @example
 * ```ts
 * import { checkServerConfig } from "./server.ts";
 * const check = checkServerConfig(`firewall = "iptables"\ncolour = 1\n`);
 * if (check.problems.length !== 4) throw new Error(check.problems.join("\n")); // + server_id, [[users]]
 * ```
 */
export function checkServerConfig(
  text: string,
  options: { path?: string } = {},
): ServerConfigCheck {
  return runSteps(checkSteps(text, options));
}

/**
 * Like {@linkcode checkServerConfig}, with the same result, but yields to the event loop after
 * each `sliceMs` of work (between two `[[users]]` tables), for a daemon that reloads a config
 * of thousands of users while it answers knocks (`busy`: its knocks in flight, which go first).
 *
 * @example
 * ```ts
 * import { checkServerConfigSliced } from "./server.ts";
 * let text = `server_id = "web1"\n`;
 * for (let uid = 1; uid <= 100; uid++) {
 *   text += `[[users]]\nuid = ${uid}\nname = "u${uid}"\nkey_file = "/k/${uid}"\nports = ["tcp/22"]\n`;
 * }
 * const check = await checkServerConfigSliced(text, { sliceMs: 1 });
 * if (check.config?.users.length !== 100) throw new Error(check.problems.join("\n"));
 * ```
 */
export function checkServerConfigSliced(
  text: string,
  options: { path?: string; sliceMs?: number; busy?: Busy } = {},
): Promise<ServerConfigCheck> {
  return runStepsSliced(checkSteps(text, options), options.sliceMs, options.busy);
}

function* checkSteps(
  text: string,
  options: { path?: string },
): Generator<void, ServerConfigCheck, void> {
  const problems = new Problems();
  const parsed = yield* parseTomlSteps(text);
  if (parsed.reason !== undefined) {
    return { config: undefined, problems: [parsed.reason], keyFiles: [] };
  }
  const baseDir = configDir(options.path);
  const top = new Fields(parsed.value, "", problems);
  const path = (key: string, fields: Fields, value: string | undefined) => {
    if (value === undefined) return undefined;
    const resolved = resolveConfigPath(value, baseDir);
    if (resolved.reason !== undefined) fields.problem(key, resolved.reason);
    return resolved.value;
  };

  const serverId = top.string("server_id", { required: true });
  if (serverId !== undefined && !isValidServerId(serverId)) {
    top.problem(
      "server_id",
      `${
        JSON.stringify(serverId)
      } is not a server id (1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit)`,
    );
  }
  const interfaces = readInterfaces(top) ?? [...SERVER_DEFAULTS.interfaces];
  const stateDir = path("state_dir", top, top.string("state_dir") ?? SERVER_DEFAULTS.state_dir);
  const firewall = top.choice("firewall", ["nft", "none"] as const) ?? SERVER_DEFAULTS.firewall;
  const nftTable = top.string("nft_table") ?? SERVER_DEFAULTS.nft_table;
  if (!TABLE_NAME.test(nftTable)) {
    top.problem(
      "nft_table",
      `${
        JSON.stringify(nftTable)
      } is not a table name (a letter, then up to 31 letters, digits or "_")`,
    );
  }
  const idleTimeoutMs = readIdle(top) ?? parseDuration(SERVER_DEFAULTS.idle_timeout);
  const maxPacketAgeMs = top.duration("max_packet_age", SECOND_MS, HOUR_MS, "1s", "1h") ??
    parseDuration(SERVER_DEFAULTS.max_packet_age);
  const resyncGraceMs = top.duration("resync_grace", 0, 7 * DAY_MS, "0s", "7d") ??
    parseDuration(SERVER_DEFAULTS.resync_grace);
  const logFormat = top.choice("log_format", ["text", "json"] as const) ??
    SERVER_DEFAULTS.log_format;
  const commandTimeoutMs = top.duration("command_timeout", 100, HOUR_MS, "100ms", "1h") ??
    parseDuration(SERVER_DEFAULTS.command_timeout);
  const nftTimeoutMs = top.duration("nft_timeout", 100, 10 * MINUTE_MS, "100ms", "10m") ??
    parseDuration(SERVER_DEFAULTS.nft_timeout);
  const protectedResponse = top.choice("protected_response", ["drop", "reject"] as const) ??
    SERVER_DEFAULTS.protected_response;
  const captureBufferBytes =
    top.byteSize("capture_buffer", 64 * 1024, 1024 * MIB, "64KiB", "1GiB") ??
      parseByteSize(SERVER_DEFAULTS.capture_buffer);
  const promiscuous = top.boolean("promiscuous") ?? SERVER_DEFAULTS.promiscuous;
  const bpfFilter = top.string("bpf_filter");
  if (bpfFilter !== undefined && bpfFilter.length > 4096) {
    top.problem("bpf_filter", "is longer than 4096 characters");
  }
  const libpcapPath = path("libpcap_path", top, top.string("libpcap_path"));
  const replayCapacity = top.integer("replay_capacity", 16, 1_000_000) ??
    SERVER_DEFAULTS.replay_capacity;
  const rateLimit = readRateLimit(top);
  const usersDir = path("users_dir", top, top.string("users_dir"));
  const withDir = top.data.users_dir !== undefined;
  const { users, keyFiles, listed } = yield* readUsers(top, baseDir, withDir);
  const ports = readPorts(top, listed, idleTimeoutMs, withDir);
  top.finish();

  if (problems.lines.length > 0 || stateDir === undefined || serverId === undefined) {
    return { config: undefined, problems: problems.lines, keyFiles };
  }
  const config: ServerConfig = {
    path: options.path,
    serverId,
    interfaces,
    stateDir,
    firewall,
    nftTable,
    idleTimeoutMs,
    maxPacketAgeMs,
    resyncGraceMs,
    logFormat,
    commandTimeoutMs,
    nftTimeoutMs,
    protectedResponse,
    captureBufferBytes,
    promiscuous,
    bpfFilter,
    libpcapPath,
    rateLimit,
    replayCapacity,
    usersDir,
    users,
    ports,
  };
  return { config: deepFreeze(config), problems: [], keyFiles };
}

/**
 * The programs the `on_open`/`on_close` commands name (each command's first element), for the
 * `--allow-run` list of the server's permissions.
 *
 * @example
 * ```ts
 * import { parseServerConfig, serverCommands } from "./server.ts";
 * const config = parseServerConfig(`server_id = "s"\n[[users]]\nuid = 1\nname = "a"\nkey_file = "/k"\n` +
 *   `ports = ["tcp/22"]\n[ports."tcp/22"]\non_open = ["systemctl", "start", "ssh"]\n`);
 * if (serverCommands(config).join() !== "systemctl") throw new Error();
 * ```
 */
export function serverCommands(config: ServerConfig): string[] {
  const programs = new Set<string>();
  for (const port of config.ports) {
    if (port.onOpen) programs.add(port.onOpen[0]!);
    if (port.onClose) programs.add(port.onClose[0]!);
  }
  return [...programs];
}

function readInterfaces(top: Fields): string[] | undefined {
  const list = top.array("interfaces", (value, path) => {
    if (
      typeof value !== "string" || !/^[^\s/\0]{1,15}$/.test(value) || value === "." ||
      value === ".."
    ) {
      top.problems.add(path, `${JSON.stringify(value)} is not an interface name`);
      return undefined;
    }
    return value;
  }, { nonEmpty: true });
  if (list === undefined) return undefined;
  if (list.includes("any") && list.length > 1) {
    top.problem("interfaces", `"any" already means every interface; list it alone`);
    return undefined;
  }
  const duplicate = list.find((name, i) => list.indexOf(name) !== i);
  if (duplicate !== undefined) {
    top.problem("interfaces", `${JSON.stringify(duplicate)} is listed twice`);
    return undefined;
  }
  return list;
}

function readRateLimit(top: Fields): RateLimitConfig {
  const defaults = SERVER_DEFAULTS.rate_limit;
  const table = top.table("rate_limit");
  if (table === undefined) {
    return {
      failedPerSecond: defaults.failed_per_second,
      failedBurst: defaults.failed_burst,
      trackedSources: defaults.tracked_sources,
    };
  }
  const limit = {
    failedPerSecond: table.integer("failed_per_second", 1, 1_000_000) ??
      defaults.failed_per_second,
    failedBurst: table.integer("failed_burst", 1, 1_000_000) ?? defaults.failed_burst,
    trackedSources: table.integer("tracked_sources", 16, 10_000_000) ??
      defaults.tracked_sources,
  };
  table.finish();
  return limit;
}
