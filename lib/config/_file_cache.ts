/**
 * What a reload need not read again: the parsed contents of files that have not changed since the
 * last load, keyed by path and checked by one `stat` (device, inode, size, mode and change time,
 * which any write, `chmod` or `utime` sets to now). A file replaced by a rename (as configuration
 * management writes) has a new inode; one edited in place a new ctime. A file modified in the last 2 s is not cached (two writes within
 * the clock's resolution would look the same). Only results are cached, never errors.
 *
 * @module
 */

/** Files changed this recently are read again at every load. */
export const RECENT_MS = 2_000;

/** Parsed files by path, valid while their `stat` is unchanged. */
export class FileCache<T> {
  #entries = new Map<string, { stamp: string; value: T }>();
  #next = new Map<string, { stamp: string; value: T }>();

  /**
   * The value of `path`: cached when its stat is unchanged, else `read(path)` (whose result is
   * cached). A stat that fails falls through to `read`, which reports the problem.
   */
  get(path: string, read: (path: string) => T): T {
    const stamp = stampOf(path);
    const cached = this.#cached(path, stamp);
    if (cached !== undefined) return cached.value;
    const value = read(path);
    if (stamp !== undefined) this.#next.set(path, { stamp, value });
    return value;
  }

  /** Like {@linkcode FileCache.get}, for a `read` that takes turns of the event loop. */
  async getAsync(path: string, read: (path: string) => Promise<T>): Promise<T> {
    const stamp = stampOf(path);
    const cached = this.#cached(path, stamp);
    if (cached !== undefined) return cached.value;
    const value = await read(path);
    if (stamp !== undefined) this.#next.set(path, { stamp, value });
    return value;
  }

  #cached(path: string, stamp: string | undefined): { value: T } | undefined {
    const cached = this.#entries.get(path);
    if (stamp === undefined || cached?.stamp !== stamp) return undefined;
    this.#next.set(path, cached);
    return cached;
  }

  /** Ends a load: only the files used in it stay cached. */
  commit(): void {
    this.#entries = this.#next;
    this.#next = new Map();
  }
}

/** The stat stamp of `path`, or `undefined` when it cannot be cached (changed recently, no stat). */
function stampOf(path: string): string | undefined {
  try {
    const info = Deno.statSync(path);
    const changed = Math.max(info.mtime?.getTime() ?? Infinity, info.ctime?.getTime() ?? Infinity);
    if (Date.now() - changed < RECENT_MS) return undefined;
    // Any change of the contents, the mode or the modification time sets the change time to
    // now, so the stamp leaves the modification time out. Numbers in base 36, joined: one short
    // flat string (a template literal keeps a tree of pieces; a daemon keeps one stamp per file,
    // 20,000 for 10,000 users in users_dir).
    return [info.dev, info.ino, info.size, info.mode, info.ctime?.getTime()]
      .map((n) => n?.toString(36) ?? "").join(":");
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return undefined;
  }
}
