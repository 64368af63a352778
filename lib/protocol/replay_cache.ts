/**
 * Tags of authenticated packets already used, so a packet is accepted at most once even if its
 * sequence number or minute comes around again. Only authenticated tags enter it, so its size is
 * bounded by what key holders send; entries expire (twice the packet-age window after they were
 * seen, by the caller's choice of expiry), and it serialises to JSON so a restart does not reopen
 * the window.
 *
 * @module
 */

import { DEFAULT_REPLAY_CAPACITY, TAG_LENGTH } from "./constants.ts";

/** A serialised replay cache: `[tag as hex, expiry in unix seconds]` pairs. */
export type ReplayCacheJson = Array<[string, number]>;

/**
 * Bounded set of used tags with expiry.
 *
 * @example
 * ```ts
 * import { ReplayCache } from "./replay_cache.ts";
 * const cache = new ReplayCache();
 * const tag = new Uint8Array(16).fill(1);
 * cache.remember(tag, 100, 0);
 * if (!cache.has(tag, 50) || cache.has(tag, 101)) throw new Error("unexpected");
 * ```
 */
export class ReplayCache {
  readonly #entries = new Map<string, number>();
  readonly #capacity: number;

  /** @param capacity Most unexpired tags kept; when full, new tags are refused (fail closed). */
  constructor(capacity: number = DEFAULT_REPLAY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create replay cache: capacity ${capacity} is not a positive integer`,
      );
    }
    this.#capacity = capacity;
  }

  /** Number of entries (expired ones included until the next prune). */
  get size(): number {
    return this.#entries.size;
  }

  /** Whether `tag` was remembered and has not expired at `now` (unix seconds). */
  has(tag: Uint8Array, now: number): boolean {
    const expiry = this.#entries.get(tagKey(tag));
    return expiry !== undefined && expiry >= now;
  }

  /**
   * Remembers `tag` until `expiresAt`. Returns false when the cache is full of unexpired entries:
   * the caller must then refuse the packet rather than forget a tag.
   */
  remember(tag: Uint8Array, expiresAt: number, now: number): boolean {
    const key = tagKey(tag);
    if (!this.#entries.has(key) && this.#entries.size >= this.#capacity) {
      this.prune(now);
      if (this.#entries.size >= this.#capacity) return false;
    }
    this.#entries.set(key, Math.max(expiresAt, this.#entries.get(key) ?? 0));
    return true;
  }

  /** Drops entries expired at `now`. */
  prune(now: number): void {
    for (const [key, expiry] of this.#entries) if (expiry < now) this.#entries.delete(key);
  }

  /** The unexpired entries, for the state file. */
  toJSON(): ReplayCacheJson {
    return [...this.#entries];
  }

  /**
   * Restores a cache from {@linkcode ReplayCache.toJSON} output; malformed entries are an error.
   *
   * @throws {TypeError} When `json` is not a list of `[hex tag, expiry]` pairs.
   */
  static fromJSON(json: unknown, capacity?: number): ReplayCache {
    const cache = new ReplayCache(capacity);
    if (!Array.isArray(json)) throw new TypeError("Cannot restore replay cache: not a list");
    for (const entry of json) {
      if (
        !Array.isArray(entry) || typeof entry[0] !== "string" ||
        !/^[0-9a-f]{32}$/.test(entry[0]) || typeof entry[1] !== "number" ||
        !Number.isFinite(entry[1])
      ) {
        throw new TypeError("Cannot restore replay cache: an entry is not [hex tag, expiry]");
      }
      cache.#entries.set(entry[0], entry[1]);
    }
    return cache;
  }
}

function tagKey(tag: Uint8Array): string {
  if (tag.length !== TAG_LENGTH) {
    throw new TypeError(`Cannot use tag: expected ${TAG_LENGTH} bytes`);
  }
  let s = "";
  for (const byte of tag) s += byte.toString(16).padStart(2, "0");
  return s;
}
