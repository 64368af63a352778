/**
 * Durable, crash-safe replacement of small files (sequence state, status).
 *
 * A write goes to a temporary file in the target's folder (mode 0600 unless told otherwise,
 * locked with `flock` while it is written), which is fsynced, renamed over the target, and then the
 * folder itself is fsynced so the rename survives a power cut. A reader therefore sees either the
 * old contents or the new, never a torn or empty file, whatever moment the writer dies at.
 *
 * Temporary files are named `.NAME.tmp-PID-RANDOM` and never read. One left behind by a killed
 * writer is removed by {@linkcode cleanTempFiles}, which the first write to each target in a process
 * also runs: a temporary file is stale when no process holds its lock and it is older than a second.
 *
 * Measured on Linux with Deno 2.9: `Deno.open(folder)` opens a directory read-only and
 * `sync()` on it issues a real `fsync(2)` on the directory descriptor (seen with
 * strace; `syncData` issues `fdatasync(2)`, which also works on a directory).
 *
 * The target is replaced, not written through: a symlink at `path` is replaced by a regular file.
 *
 * @module
 */

import { basename, dirname, join } from "../posix_path.ts";

/** Options of {@linkcode writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Permission bits of the new file (default 0o600). */
  mode?: number;
  /**
   * Flush the file and its folder to disk before returning (default true). A snapshot rewritten
   * every few seconds (the daemon's status file) sets it false: a crash can lose the last one,
   * never leave a half-written one.
   */
  durable?: boolean;
}

/** A temporary file younger than this is left alone by the sweep even when unlocked. */
export const TEMP_FILE_GRACE_MS = 1_000;

const swept = new Set<string>();
const encoder = new TextEncoder();

/**
 * Replaces `path` with `data` durably and atomically.
 *
 * @param path The target file; its folder must exist.
 * @param data Bytes, or text written as UTF-8.
 * @param options `mode` of the new file (default 0o600); `durable: false` skips the flushes.
 * @example
 * ```ts
 * import { readTextFileIfExists, writeFileAtomic } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/state.json`, '{"sequence":1}');
 * if ((await readTextFileIfExists(`${dir}/state.json`)) !== '{"sequence":1}') throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const mode = options.mode ?? 0o600;
  const durable = options.durable ?? true;
  if (!swept.has(path)) {
    swept.add(path);
    await cleanTempFiles(path);
  }
  const temp = tempPathFor(path);
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  let renamed = false;
  try {
    await file.lock(true);
    await Deno.chmod(temp, mode);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
    if (durable) await file.sync();
    await Deno.rename(temp, path);
    renamed = true;
  } finally {
    file.close();
    if (!renamed) await Deno.remove(temp).catch(() => {});
  }
  if (durable) await syncFolder(dirname(path));
}

/**
 * {@linkcode writeFileAtomic} with synchronous calls (the same steps, the same durability), for a
 * command-line program with nothing else to do meanwhile: the client saves its unconfirmed
 * number this way right before its knock leaves. It does not sweep stale temporary files; the
 * next {@linkcode writeFileAtomic} to `path` in the process does.
 *
 * @example
 * ```ts
 * import { readTextFileIfExistsSync, writeFileAtomicSync } from "./atomic_file.ts";
 * const dir = Deno.makeTempDirSync();
 * writeFileAtomicSync(`${dir}/state.json`, '{"sequence":1}');
 * if (readTextFileIfExistsSync(`${dir}/state.json`) !== '{"sequence":1}') throw new Error();
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export function writeFileAtomicSync(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): void {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const mode = options.mode ?? 0o600;
  const temp = tempPathFor(path);
  const file = Deno.openSync(temp, { write: true, createNew: true, mode });
  let renamed = false;
  try {
    file.lockSync(true);
    Deno.chmodSync(temp, mode);
    let written = 0;
    while (written < bytes.length) written += file.writeSync(bytes.subarray(written));
    file.syncSync();
    Deno.renameSync(temp, path);
    renamed = true;
  } finally {
    file.close();
    if (!renamed) {
      try {
        Deno.removeSync(temp);
      } catch {
        // already gone, or the sweep of a later write removes it
      }
    }
  }
  const folder = Deno.openSync(dirname(path), { read: true });
  try {
    folder.syncSync();
  } finally {
    folder.close();
  }
}

/**
 * The file's bytes, or `undefined` when it does not exist.
 *
 * @example
 * ```ts
 * import { readFileIfExists } from "./atomic_file.ts";
 * if ((await readFileIfExists("/nonexistent/spa-state")) !== undefined) throw new Error();
 * ```
 */
export async function readFileIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * The file's text (UTF-8), or `undefined` when it does not exist.
 *
 * @example
 * ```ts
 * import { readTextFileIfExists } from "./atomic_file.ts";
 * if ((await readTextFileIfExists("/nonexistent/spa-state")) !== undefined) throw new Error();
 * ```
 */
export async function readTextFileIfExists(path: string): Promise<string | undefined> {
  const bytes = await readFileIfExists(path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * {@linkcode readTextFileIfExists} with a synchronous read.
 *
 * @example
 * ```ts
 * import { readTextFileIfExistsSync } from "./atomic_file.ts";
 * if (readTextFileIfExistsSync("/nonexistent/spa-state") !== undefined) throw new Error();
 * ```
 */
export function readTextFileIfExistsSync(path: string): string | undefined {
  const bytes = readFileIfExistsSync(path);
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

/**
 * The bytes of `path`, or `undefined` when it does not exist (other errors are thrown).
 *
 * @example
 * ```ts
 * import { readFileIfExistsSync } from "./atomic_file.ts";
 * if (readFileIfExistsSync("/nonexistent/spa-state") !== undefined) throw new Error();
 * ```
 */
export function readFileIfExistsSync(path: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Removes the temporary files a killed writer of `path` left behind: those no live writer holds
 * locked and older than {@linkcode TEMP_FILE_GRACE_MS}. Returns how many were removed.
 *
 * @example
 * ```ts
 * import { cleanTempFiles } from "./atomic_file.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/.state.tmp-1-x`, "half");
 * await Deno.utime(`${dir}/.state.tmp-1-x`, 0, 0);
 * if ((await cleanTempFiles(`${dir}/state`)) !== 1) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function cleanTempFiles(path: string): Promise<number> {
  const folder = dirname(path);
  const prefix = tempPrefix(path);
  let removed = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(folder));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isFile || !entry.name.startsWith(prefix)) continue;
    const temp = join(folder, entry.name);
    let file: Deno.FsFile;
    try {
      file = await Deno.open(temp, { read: true });
    } catch {
      continue;
    }
    try {
      const info = await file.stat();
      const age = Date.now() - (info.mtime?.getTime() ?? 0);
      if (age < TEMP_FILE_GRACE_MS || !(await file.tryLock(true))) continue;
      await Deno.remove(temp).catch(() => {});
      removed++;
    } finally {
      file.close();
    }
  }
  return removed;
}

/**
 * Whether a file name in a state folder is one of this module's temporary files.
 *
 * @example
 * ```ts
 * import { isTempFileName } from "./atomic_file.ts";
 * if (!isTempFileName(".alice.seq.tmp-12-abc") || isTempFileName("alice.seq")) throw new Error();
 * ```
 */
export function isTempFileName(name: string): boolean {
  return /^\..+\.tmp-\d+-[0-9a-z]+$/.test(name);
}

function tempPrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

function tempPathFor(path: string): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  const suffix = `${random[0]!.toString(36)}${random[1]!.toString(36)}`;
  return join(dirname(path), `${tempPrefix(path)}${Deno.pid}-${suffix}`);
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await Deno.open(folder, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
