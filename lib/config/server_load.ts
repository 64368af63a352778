/**
 * Loading the server config from disk: the TOML file, the users folder (`users_dir`) and every
 * user's key file, so that `spa-server check-config` validates everything `spa-server run` would.
 * All problems of the config, of every user file and of every key file are reported together.
 *
 * Made for many users (10,000 and more): files are read with synchronous calls, in slices of a few
 * milliseconds when {@linkcode LoadOptions.sliceMs} asks (a daemon reloading keeps answering
 * knocks in between), and no key is derived here:
 * {@linkcode LoadedServerConfig.keys} holds each key file's contents, and the daemon derives a
 * user's server key the first time one of her packets arrives.
 *
 * @module
 */

import { absolutePath, readConfigText, statOrUndefined } from "./_read.ts";
import { type Busy, pauser } from "./_pause.ts";
import { firstHeaderAt } from "./_toml_split.ts";
import type { SourceList } from "./cidr.ts";
import { ConfigError } from "./config_error.ts";
import { type KeyFile, KeyFileError, keyForServer, loadKeyFileSync } from "./key_file.ts";
import { configDir, deepFreeze, resolveConfigPath } from "./_paths.ts";
import { parseToml } from "./_fields.ts";
import { formatPortSpec } from "./port_spec.ts";
import {
  checkServerConfig,
  checkServerConfigSliced,
  type KeyFileRef,
  type PortConfig,
  SERVER_DEFAULTS,
  type ServerConfig,
  type ServerConfigCheck,
  type UserConfig,
} from "./server.ts";
import { readUsersDir, type UserFile } from "./users_dir.ts";
import { FileCache } from "./_file_cache.ts";

/** A user file of `users_dir` that cannot be used, with its problems. */
export interface BrokenUserFile {
  /** The file's absolute path. */
  readonly file: string;
  /** The uid it names, when it names a valid one. */
  readonly uid?: number;
  /** Its problems, each line starting with the file's path. */
  readonly problems: readonly string[];
}

/** A server config with the key file of every user. */
export interface LoadedServerConfig {
  /** The config; its `users` and `ports` include those of the good files of `users_dir`. */
  readonly config: ServerConfig;
  /**
   * Each user's key file contents, by uid: the user's secret, or a server key provisioned for
   * `config.serverId` (checked). Turn it into this server's key with `keyForServer`.
   */
  readonly keys: ReadonlyMap<number, KeyFile>;
  /** The users_dir file each of its users came from, by uid. */
  readonly userFiles: ReadonlyMap<number, string>;
  /** The users_dir files that cannot be used (only when not `strict`). */
  readonly broken: readonly BrokenUserFile[];
}

/** Options of {@linkcode loadServerConfig}. */
export interface LoadOptions {
  /**
   * Whether a broken users_dir file fails the load (default: yes, as `check-config` wants). The
   * daemon loads with `strict: false`: a broken user file is then returned in `broken` and the
   * other users still load.
   */
  strict?: boolean;
  /**
   * Files of the last load that need not be read again when unchanged (a daemon keeps one across
   * reloads; see `_file_cache.ts`).
   */
  cache?: LoadCache;
  /**
   * Yield to the event loop after this many milliseconds of synchronous reading (default: never,
   * as `check-config` and a starting daemon want; a reloading daemon yields to answer knocks).
   */
  sliceMs?: number;
  /** Work that goes first at each yield (a daemon's knocks in flight; see `_pause.ts`). */
  busy?: Busy;
}

/** The key files and user files of the last load, for {@linkcode LoadOptions.cache}. */
export class LoadCache {
  /** The config file's check (a reload that did not change it parses nothing). */
  readonly configs: FileCache<ServerConfigCheck> = new FileCache();
  readonly keys: FileCache<KeyFile> = new FileCache();
  readonly userFiles: FileCache<UserFile> = new FileCache();
}

/**
 * Reads a server config, its users folder and every key file they name.
 *
 * Beyond the schema, it checks that each key file is usable (exists, mode 0600 or stricter,
 * well-formed) and holds the uid of its user and a key for this server (the user's secret, or a
 * server key provisioned for this `server_id`), that `state_dir` is a folder when it exists (the
 * daemon creates it otherwise), that `libpcap_path` exists, and that commands given by absolute path
 * exist.
 *
 * @param path The config file; relative paths inside it resolve against its folder.
 * @throws {ConfigError} With every problem of the config and its key files (and, when `strict`,
 * of its user files).
 * @throws {Deno.errors.NotCapable} Unchanged, when Deno's permissions forbid a read.
 * @example
 * ```ts
 * import { writeKeyFile } from "./key_file.ts";
 * import { Secret } from "./secret.ts";
 * import { loadServerConfig } from "./server_load.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 });
 * await Deno.writeTextFile(
 *   `${dir}/server.toml`,
 *   `server_id = "web1"\ninterfaces = ["lo"]\nstate_dir = "state"\nfirewall = "nft"\n` +
 *     `[[users]]\nuid = 1000\nname = "alice"\nkey_file = "alice.key"\nports = ["tcp/22"]\n`,
 * );
 * const { config, keys } = await loadServerConfig(`${dir}/server.toml`);
 * if (config.users.length !== 1 || keys.get(1000)?.sequence !== 77) throw new Error("not loaded");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadServerConfig(
  path: string,
  options: LoadOptions = {},
): Promise<LoadedServerConfig> {
  const absolute = absolutePath(path);
  const text = await readConfigText(absolute);
  // Read before the stat that keys the cache: a file changed in between is too recent to cache.
  // A reloading daemon checks a changed file in slices (a config of 10,000 [[users]] takes
  // about 100 ms to parse and check), answering knocks in between.
  const sliceMs = options.sliceMs;
  const checkText = () =>
    sliceMs === undefined
      ? Promise.resolve(checkServerConfig(text, { path: absolute }))
      : checkServerConfigSliced(text, {
        path: absolute,
        sliceMs,
        ...(options.busy ? { busy: options.busy } : {}),
      });
  const check = await (options.cache?.configs.getAsync(absolute, checkText) ?? checkText());
  const problems = [...check.problems];
  const keys = new Map<number, KeyFile>();
  const serverId = check.config?.serverId;
  const pause = pauser(options.sliceMs ?? Infinity, options.busy);
  const cache = options.cache;
  try {
    for (const ref of check.keyFiles) {
      problems.push(...keyProblems(ref, serverId, keys, cache));
      await pause();
    }
    return await loadRest(absolute, check.config, problems, keys, options);
  } finally {
    cache?.configs.commit();
    cache?.keys.commit();
    cache?.userFiles.commit();
  }
}

async function loadRest(
  absolute: string,
  checked: ServerConfig | undefined,
  problems: string[],
  keys: Map<number, KeyFile>,
  options: LoadOptions,
): Promise<LoadedServerConfig> {
  let config = checked;
  const userFiles = new Map<number, string>();
  const broken: BrokenUserFile[] = [];
  if (config !== undefined) {
    problems.push(...await fileProblems(config));
    if (config.usersDir !== undefined) {
      try {
        config = await withUsersDir(config, keys, userFiles, broken, options);
      } catch (error) {
        if (error instanceof Deno.errors.NotCapable) throw error;
        problems.push(`users_dir: ${(error as Error).message}`);
      }
    }
  }
  if (options.strict ?? true) { for (const file of broken) problems.push(...file.problems); }
  if (problems.length > 0 || config === undefined) throw new ConfigError(absolute, problems);
  return { config, keys, userFiles, broken };
}

/**
 * Reads only the config file itself (no key file, no users folder), e.g. for `spa-server status`,
 * which needs the state folder and nothing else.
 *
 * @throws {ConfigError} When the config file is invalid.
 */
export async function loadServerConfigFile(path: string): Promise<ServerConfig> {
  const absolute = absolutePath(path);
  const check = checkServerConfig(await readConfigText(absolute), { path: absolute });
  if (check.config === undefined) throw new ConfigError(absolute, check.problems);
  return check.config;
}

/**
 * The `state_dir` of a config file, reading nothing else of it (for `spa-server status`, also
 * with 100,000 `[[users]]` tables: only the part before the first table header is parsed, which
 * TOML guarantees holds every top-level key).
 *
 * @throws {ConfigError} When the file is not TOML or its `state_dir` is not a usable path.
 */
export async function loadStateDir(path: string): Promise<string> {
  const absolute = absolutePath(path);
  const text = await readConfigText(absolute);
  // Every top-level key comes before the first table header (`[name]` or `[[users]]`): parse
  // only that part. A cut inside a multi-line string or array leaves it unterminated, which does
  // not parse: then, and when there is no header, the whole file is parsed.
  const header = firstHeaderAt(text);
  let parsed = header === undefined ? undefined : parseToml(text.slice(0, header));
  if (parsed?.reason !== undefined || parsed === undefined) parsed = parseToml(text);
  if (parsed.reason !== undefined) throw new ConfigError(absolute, [parsed.reason]);
  const value = parsed.value.state_dir ?? SERVER_DEFAULTS.state_dir;
  if (typeof value !== "string") {
    throw new ConfigError(absolute, [`state_dir: must be a string`]);
  }
  const resolved = resolveConfigPath(value, configDir(absolute));
  if (resolved.reason !== undefined) {
    throw new ConfigError(absolute, [`state_dir: ${resolved.reason}`]);
  }
  return resolved.value;
}

/** The problems of one key file; a good one goes into `keys`. */
function keyProblems(
  ref: KeyFileRef,
  serverId: string | undefined,
  keys: Map<number, KeyFile>,
  cache: LoadCache | undefined,
): string[] {
  try {
    const key = cache?.keys.get(ref.path, loadKeyFileSync) ?? loadKeyFileSync(ref.path);
    if (key.uid !== ref.uid) {
      return [`${ref.keyPath}: ${ref.path} holds uid ${key.uid}, not ${ref.uid}`];
    }
    if (serverId === undefined) return [];
    // Only a server key can be for the wrong server; a user's secret is derived when first used.
    if (key.source === "server-key") keyForServer(key, serverId, ref.path);
    keys.set(ref.uid, key);
    return [];
  } catch (error) {
    if (!(error instanceof KeyFileError)) throw error;
    return error.problems.map((line) => `${ref.keyPath}: Cannot use key file ${ref.path}: ${line}`);
  }
}

/** The config with the good users of its users_dir added (their ports too). */
async function withUsersDir(
  config: ServerConfig,
  keys: Map<number, KeyFile>,
  userFiles: Map<number, string>,
  broken: BrokenUserFile[],
  options: LoadOptions,
): Promise<ServerConfig> {
  const cache = options.cache;
  const sliceMs = options.sliceMs ?? Infinity;
  const taken = {
    uids: new Map(config.users.map((u, i) => [u.uid, `users[${i}]`])),
    names: new Map(config.users.map((u, i) => [u.name, `users[${i}]`])),
  };
  const files = await readUsersDir(
    config.usersDir!,
    taken,
    new Map<string, SourceList>(),
    cache?.userFiles,
    sliceMs,
    options.busy,
  );
  const users: UserConfig[] = [...config.users];
  const ports = new Map<string, PortConfig>(config.ports.map((p) => [p.key, p]));
  const pause = pauser(sliceMs, options.busy);
  for (const file of files) {
    await pause();
    if (file.user === undefined) {
      broken.push({ file: file.file, problems: file.problems, ...uidOf(file.uid) });
      continue;
    }
    const lines = keyProblems(file.keyFile!, config.serverId, keys, cache).map((line) =>
      `${file.file}: ${line}`
    );
    if (lines.length > 0) {
      keys.delete(file.user.uid);
      broken.push({ file: file.file, problems: lines, uid: file.user.uid });
      continue;
    }
    users.push(Object.freeze(file.user));
    userFiles.set(file.user.uid, file.file);
    for (const spec of file.ports) {
      const key = formatPortSpec(spec);
      if (!ports.has(key)) {
        ports.set(key, Object.freeze({ ...spec, key, idleTimeoutMs: config.idleTimeoutMs }));
      }
    }
  }
  return deepFreeze({ ...config, users, ports: [...ports.values()] });
}

function uidOf(uid: number | undefined): { uid?: number } {
  return uid === undefined ? {} : { uid };
}

async function fileProblems(config: ServerConfig): Promise<string[]> {
  const problems: string[] = [];
  const info = await statOrUndefined(config.stateDir);
  if (info !== undefined && !info.isDirectory) {
    problems.push(`state_dir: ${config.stateDir} is not a folder`);
  }
  if (config.usersDir !== undefined) {
    const dir = await statOrUndefined(config.usersDir);
    if (dir !== undefined && !dir.isDirectory) {
      problems.push(`users_dir: ${config.usersDir} is not a folder`);
    }
  }
  if (config.libpcapPath !== undefined) {
    const lib = await statOrUndefined(config.libpcapPath);
    if (lib === undefined) problems.push(`libpcap_path: ${config.libpcapPath} does not exist`);
  }
  for (const port of config.ports) {
    for (const [key, argv] of [["on_open", port.onOpen], ["on_close", port.onClose]] as const) {
      const program = argv?.[0];
      if (program === undefined || !program.startsWith("/")) continue;
      const found = await statOrUndefined(program);
      if (found === undefined || !found.isFile) {
        problems.push(`ports."${port.key}".${key}[0]: ${program} does not exist`);
      } else if (found.mode !== null && (found.mode & 0o111) === 0) {
        problems.push(`ports."${port.key}".${key}[0]: ${program} is not executable`);
      }
    }
  }
  return problems;
}
