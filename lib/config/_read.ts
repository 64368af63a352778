/**
 * Reading config files: size-capped UTF-8 reads with one-line reasons.
 *
 * @module
 */

import { resolve } from "../posix_path.ts";
import { ConfigError } from "./config_error.ts";

/**
 * Largest config file read, in bytes (64 MiB): room for 100,000 `[[users]]` stanzas (about 150
 * bytes each), while a file that is not a config (a log, a device) is still refused.
 */
export const MAX_CONFIG_FILE_SIZE = 64 * 1024 * 1024;

/** Reads a config file as UTF-8 text; failures become a {@linkcode ConfigError}. */
export async function readConfigText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    checkConfigInfo(path, await Deno.stat(path));
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw readProblem(path, error);
  }
  return configText(path, bytes);
}

/**
 * {@linkcode readConfigText} with synchronous calls, for a command-line program that has nothing
 * else to do meanwhile (the client: fewer turns of the event loop before its knock). Same checks,
 * same errors.
 */
export function readConfigTextSync(path: string): string {
  let bytes: Uint8Array;
  try {
    checkConfigInfo(path, Deno.statSync(path));
    bytes = Deno.readFileSync(path);
  } catch (error) {
    throw readProblem(path, error);
  }
  return configText(path, bytes);
}

function checkConfigInfo(path: string, info: Deno.FileInfo): void {
  if (!info.isFile) throw new ConfigError(path, ["it is not a regular file"]);
  if (info.size > MAX_CONFIG_FILE_SIZE) {
    throw new ConfigError(path, [
      `it is larger than ${MAX_CONFIG_FILE_SIZE} bytes (put users in users_dir files instead)`,
    ]);
  }
}

function readProblem(path: string, error: unknown): unknown {
  if (error instanceof ConfigError || error instanceof Deno.errors.NotCapable) return error;
  if (error instanceof Deno.errors.NotFound) {
    return new ConfigError(path, ["it does not exist"], { cause: error });
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new ConfigError(path, ["it cannot be read (permission denied)"], { cause: error });
  }
  return new ConfigError(path, [`it cannot be read (${(error as Error).message})`], {
    cause: error,
  });
}

function configText(path: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(path, ["it is not UTF-8 text"]);
  }
}

/** `Deno.statSync`, or `undefined` when the path cannot be seen (a permission error is thrown). */
export function statOrUndefinedSync(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return undefined;
  }
}

/** `Deno.stat`, or `undefined` when the path cannot be seen (a permission error is thrown). */
export async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return undefined;
  }
}

/** `path` made absolute against the working folder (unchanged when that is not allowed). */
export function absolutePath(path: string): string {
  if (path.startsWith("/")) return path;
  try {
    return resolve(Deno.cwd(), path);
  } catch {
    return path;
  }
}

/**
 * Reads `size` bytes (the file's size from its `stat`) from an open file, synchronously; fewer
 * when the file shrank meanwhile. Key and user files are read this way, in short slices, so a
 * load of many users does not wait on the event loop per file.
 */
export function readSizeSync(file: Deno.FsFile, size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let filled = 0;
  while (filled < bytes.length) {
    const n = file.readSync(bytes.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return bytes.subarray(0, filled);
}
