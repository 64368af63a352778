/**
 * Path helpers of the config schemas: relative paths resolve against the config file's folder,
 * `~/` against the home folder; freezing of parsed configs.
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize } from "../posix_path.ts";
import type { Checked } from "./_checked.ts";

/**
 * Resolves `path` against `baseDir` (the config file's folder). Without a base, a relative path is
 * refused, so a config parsed from bare text never depends on the working folder.
 */
export function resolveConfigPath(path: string, baseDir: string | undefined): Checked<string> {
  if (path.includes("\0")) return { reason: "must not contain a NUL character" };
  if (isAbsolute(path)) return { value: normalize(path) };
  if (baseDir === undefined) {
    return {
      reason: `${JSON.stringify(path)} is relative and there is no config file to resolve it`,
    };
  }
  return { value: join(baseDir, path) };
}

/** The folder of a config file, or `undefined` when there is none. */
export function configDir(configPath: string | undefined): string | undefined {
  return configPath === undefined ? undefined : dirname(configPath);
}

/**
 * Expands a leading `~` or `~/` with the home folder from `env`; `~user` is refused.
 */
export function expandHome(
  path: string,
  env: (name: string) => string | undefined,
): Checked<string> {
  if (path !== "~" && !path.startsWith("~/")) {
    if (path.startsWith("~")) return { reason: `${JSON.stringify(path)}: only "~/" is expanded` };
    return { value: path };
  }
  const home = env("HOME");
  if (home === undefined || home === "") {
    return { reason: `${JSON.stringify(path)} needs HOME, which is not set` };
  }
  return { value: join(home, path.slice(1)) };
}

/** Freezes plain objects and arrays all the way down; class instances are frozen as they are. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  const proto = Object.getPrototypeOf(value);
  if (Array.isArray(value) || proto === Object.prototype || proto === null) {
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return Object.freeze(value);
}
