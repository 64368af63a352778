/**
 * The daemon's hold on its state folder: a start-up check that the folder can take the writes the
 * daemon will make (a daemon that cannot record a sequence number refuses every knock, so it must
 * not start), and a lock that tells `spa-server status` whether a daemon is alive.
 *
 * The lock is `flock` on `<state_dir>/spa-server.pid`, which also holds the daemon's pid. The
 * kernel drops the lock when the process ends, however it ends, so a held lock means a live
 * spa-server process on this folder (a pid alone could be reused, and needs `/proc` to check),
 * and it keeps a second daemon off the same folder. Reading it needs only read access to the
 * folder, so it still answers when the folder has become read-only.
 *
 * @module
 */

/** Tries at taking the state folder's lock before another daemon is said to hold it. */
const LOCK_ATTEMPTS = 10;
/** Pause between two tries, milliseconds. */
const LOCK_RETRY_MS = 50;

/** The lock and pid file's name inside the state folder. */
export const PID_FILE = "spa-server.pid";
/** Bytes written (and synced) by the start-up check: room for the status and state writes. */
export const PROBE_BYTES = 16 * 1024;

/** A state folder held by a running daemon. */
export interface StateDirHold {
  /** Unlocks and removes the pid file (clean stop); safe to call twice. */
  release(): Promise<void>;
}

/**
 * Creates the state folder if needed, checks that it takes a synced write of
 * {@linkcode PROBE_BYTES}, and takes its lock, recording this process's pid.
 *
 * @throws {Error} "Cannot use state folder DIR: reason" when it is read-only, full, not a folder,
 * or held by another daemon.
 * @example
 * ```ts
 * import { holdStateDir } from "./state_dir.ts";
 * const stateDir = await Deno.makeTempDir();
 * const hold = await holdStateDir(stateDir);
 * await holdStateDir(stateDir).then(
 *   () => Promise.reject(new Error("a second hold must fail")),
 *   () => {}, // "Cannot use state folder …: another spa-server (pid …) is using it"
 * );
 * await hold.release();
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export async function holdStateDir(dir: string): Promise<StateDirHold> {
  const fail = (reason: string) => new Error(`Cannot use state folder ${dir}: ${reason}`);
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const probe = `${dir}/.write-check`;
    try {
      using file = await Deno.open(probe, { write: true, create: true, truncate: true });
      await writeAll(file, new Uint8Array(PROBE_BYTES));
      await file.sync();
    } finally {
      await Deno.remove(probe).catch(() => {});
    }
  } catch (error) {
    throw fail((error as Error).message);
  }
  const path = `${dir}/${PID_FILE}`;
  let file: Deno.FsFile;
  let locked = false;
  try {
    // Locked through a read-only handle, so the daemon holds nothing open for writing in the
    // folder (an administrator can still remount it read-only).
    await Deno.writeTextFile(path, "", { append: true, mode: 0o644 });
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw fail((error as Error).message);
  }
  try {
    // `spa-server status` holds a shared lock for an instant while it looks: try a few times
    // (for about half a second) before deciding another daemon holds the folder.
    for (let attempt = 0; attempt < LOCK_ATTEMPTS && !locked; attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
      locked = await file.tryLock(true);
    }
    if (locked) await Deno.writeTextFile(path, `${Deno.pid}\n`);
  } catch (error) {
    file.close();
    throw fail((error as Error).message);
  }
  if (!locked) {
    file.close();
    const pid = await readPid(dir);
    throw fail(`another spa-server${pid === undefined ? "" : ` (pid ${pid})`} is using it`);
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await Deno.remove(path).catch(() => {});
      file.close();
    },
  };
}

/** Whether a daemon holds a state folder, and the pid it recorded. */
export interface StateDirHolder {
  /** A live process holds the folder's lock. */
  running: boolean;
  /** The pid recorded in the pid file, if any. */
  pid?: number;
}

/**
 * Whether a live daemon holds the state folder's lock (only read access is needed).
 *
 * @example
 * ```ts
 * import { holdStateDir, stateDirHolder } from "./state_dir.ts";
 * const stateDir = await Deno.makeTempDir();
 * const hold = await holdStateDir(stateDir);
 * const { running, pid } = await stateDirHolder(stateDir);
 * if (!running || pid !== Deno.pid) throw new Error("the hold is not seen");
 * await hold.release();
 * if ((await stateDirHolder(stateDir)).running) throw new Error("still held");
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export async function stateDirHolder(dir: string): Promise<StateDirHolder> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${dir}/${PID_FILE}`, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { running: false };
    throw error;
  }
  try {
    const free = await file.tryLock(false);
    if (free) await file.unlock();
    const pid = await readPid(dir);
    return { running: !free, ...(pid === undefined ? {} : { pid }) };
  } finally {
    file.close();
  }
}

async function readPid(dir: string): Promise<number | undefined> {
  try {
    const pid = Number((await Deno.readTextFile(`${dir}/${PID_FILE}`)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}
