/**
 * Loading the server config from disk: the TOML file, then every user's key file, so that
 * `spa-server check-config` validates everything `spa-server run` would. All problems of the config
 * and of every key file are reported together.
 *
 * @module
 */

import { absolutePath, readConfigText, statOrUndefined } from "./_read.ts";
import { ConfigError } from "./config_error.ts";
import { type KeyFile, KeyFileError, keyForServer, loadKeyFile } from "./key_file.ts";
import { checkServerConfig, type ServerConfig } from "./server.ts";

/** A server config with the key of every user. */
export interface LoadedServerConfig {
  readonly config: ServerConfig;
  /**
   * Each user's key for this server, by uid: the server key of `config.serverId`, whether the key
   * file held it (provisioned) or the user's secret (derived here).
   */
  readonly keys: ReadonlyMap<number, KeyFile>;
}

/**
 * Reads a server config and every key file it names.
 *
 * Beyond the schema, it checks that each key file is usable (exists, mode 0600 or stricter,
 * well-formed) and holds the uid of its user and a key for this server (the user's secret, or a
 * server key provisioned for this `server_id`), that `state_dir` is a folder when it exists (the
 * daemon creates it otherwise), that `libpcap_path` exists, and that commands given by absolute path
 * exist.
 *
 * @param path The config file; relative paths inside it resolve against its folder.
 * @throws {ConfigError} With every problem of the config and its key files.
 * @throws {Deno.errors.NotCapable} Unchanged, when Deno's permissions forbid a read.
 * @example
 * ```ts ignore
 * import { loadServerConfig } from "./server_load.ts";
 * const { config, keys } = await loadServerConfig("/etc/spa/server.toml");
 * console.log(config.users.length, keys.size);
 * ```
 */
export async function loadServerConfig(path: string): Promise<LoadedServerConfig> {
  const absolute = absolutePath(path);
  const text = await readConfigText(absolute);
  const check = checkServerConfig(text, { path: absolute });
  const problems = [...check.problems];
  const keys = new Map<number, KeyFile>();
  const serverId = check.config?.serverId;
  for (const ref of check.keyFiles) {
    try {
      const key = await loadKeyFile(ref.path);
      if (key.uid !== ref.uid) {
        problems.push(`${ref.keyPath}: ${ref.path} holds uid ${key.uid}, not ${ref.uid}`);
      } else if (serverId !== undefined) {
        keys.set(ref.uid, keyForServer(key, serverId, ref.path));
      }
    } catch (error) {
      if (!(error instanceof KeyFileError)) throw error;
      for (const line of error.problems) {
        problems.push(`${ref.keyPath}: Cannot use key file ${ref.path}: ${line}`);
      }
    }
  }
  const config = check.config;
  if (config !== undefined) {
    problems.push(...await fileProblems(config));
  }
  if (problems.length > 0 || config === undefined) throw new ConfigError(absolute, problems);
  return { config, keys };
}

async function fileProblems(config: ServerConfig): Promise<string[]> {
  const problems: string[] = [];
  const info = await statOrUndefined(config.stateDir);
  if (info !== undefined && !info.isDirectory) {
    problems.push(`state_dir: ${config.stateDir} is not a folder`);
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
