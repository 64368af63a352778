/**
 * Tags of authenticated packets already used, so a packet is accepted at most once even if its
 * sequence number or minute comes around again. Only authenticated tags enter it, so its size is
 * bounded by what key holders send; entries expire (twice the packet-age window after they were
 * seen, by the caller's choice of expiry), and it serialises to JSON so a restart does not reopen
 * the window.
 *
 * The capacity bounds only the tags of contexts that can still verify (PROTOCOL.md §5): each tag
 * is remembered with its context (`n<number>` for a sequence number, `m<minute>` for a resync
 * minute), and when the cache is full, the tags of contexts the caller says are spent (a sequence
 * number the user has moved past) give way to one small entry per context, a *spent mark* (and so
 * they do once {@linkcode SPENT_SWEEP_AT} tags are held, to keep the state file small): any
 * packet under a marked context is refused as a replay until the mark expires. A user who knocks
 * often therefore never fills the cache, and no tag is forgotten while its packet could verify.
 *
 * @module
 */

import { encodeHex } from "./hex.ts";
import { DEFAULT_REPLAY_CAPACITY, TAG_LENGTH } from "./constants.ts";

/**
 * Tags held before those of spent contexts are turned into marks (also when the cache is full,
 * whatever its capacity): a few dozen tags keep the state file small for a user who knocks often,
 * and the marks file is rewritten once per this many tags at most.
 */
export const SPENT_SWEEP_AT = 64;

/** A serialised tag: `[tag as hex, expiry in unix seconds, context]` (no context in older files). */
export type ReplayTagJson = [string, number] | [string, number, string];

/** A serialised replay cache: its tags (the spent marks are stored apart, see `spentBytes`). */
export type ReplayCacheJson = ReplayTagJson[];

/** Says whether a context (`n<number>` or `m<minute>`) can still verify; see {@linkcode contextKey}. */
export type LiveContext = (context: string) => boolean;

/**
 * The context key of a packet: `n<number>` for knocks and checks (both keyed by the sequence
 * number), `m<minute>` for resyncs.
 *
 * @example
 * ```ts
 * import { contextKey } from "./replay_cache.ts";
 * if (contextKey("knock", 7) !== "n7" || contextKey("resync", 7) !== "m7") throw new Error();
 * ```
 */
export function contextKey(kind: string, context: number): string {
  return `${kind === "resync" ? "m" : "n"}${context}`;
}

interface Entry {
  expiry: number;
  context: string | undefined;
}

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
  readonly #entries = new Map<string, Entry>();
  /** Spent marks: sequence number → expiry (unix seconds). */
  readonly #spent = new Map<number, number>();
  /** Bumped whenever marks are added. */
  #spentVersion = 0;
  readonly #capacity: number;

  /**
   * An empty cache.
   *
   * @param capacity Most unexpired tags kept; when full, tags of spent contexts give way to spent
   * marks, and when still full, new tags are refused (fail closed).
   */
  constructor(capacity: number = DEFAULT_REPLAY_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create replay cache: capacity ${capacity} is not a positive integer`,
      );
    }
    this.#capacity = capacity;
  }

  /** Number of tags (expired ones included until the next prune). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Changes whenever spent marks are added (once per {@linkcode SPENT_SWEEP_AT} tags at most): the
   * state store writes {@linkcode spentBytes} durably only then, so a user knocking
   * often does not rewrite thousands of marks with every knock.
   */
  get spentVersion(): number {
    return this.#spentVersion;
  }

  /** Number of spent marks (expired ones included until the next prune). */
  get spentMarks(): number {
    return this.#spent.size;
  }

  /**
   * Whether `tag` was remembered, or its `context` (see {@linkcode contextKey}) was marked spent,
   * and has not expired at `now` (unix seconds).
   */
  has(tag: Uint8Array, now: number, context?: string): boolean {
    if (context !== undefined && context.startsWith("n")) {
      const spent = this.#spent.get(Number(context.slice(1)));
      if (spent !== undefined && spent >= now) return true;
    }
    const entry = this.#entries.get(tagKey(tag));
    return entry !== undefined && entry.expiry >= now;
  }

  /**
   * Remembers `tag` of `context` until `expiresAt`. Once it holds {@linkcode SPENT_SWEEP_AT} tags,
   * and when it is full, turns the tags of contexts `live` says are spent into spent marks (and
   * when full, drops expired entries first). Returns false when it is still full: the caller must
   * then refuse the packet rather than forget a tag.
   */
  remember(
    tag: Uint8Array,
    expiresAt: number,
    now: number,
    context?: string,
    live?: LiveContext,
  ): boolean {
    const key = tagKey(tag);
    const held = this.#entries.get(key);
    if (held === undefined && live !== undefined && this.#entries.size >= SPENT_SWEEP_AT) {
      this.#markSpent(live);
    }
    if (held === undefined && this.#entries.size >= this.#capacity) {
      this.prune(now);
      if (live !== undefined && this.#entries.size >= this.#capacity) this.#markSpent(live);
      if (this.#entries.size >= this.#capacity) return false;
    }
    this.#entries.set(key, {
      expiry: Math.max(expiresAt, held?.expiry ?? 0),
      context: context ?? held?.context,
    });
    return true;
  }

  /** Drops entries and spent marks expired at `now`. */
  prune(now: number): void {
    for (const [key, entry] of this.#entries) if (entry.expiry < now) this.#entries.delete(key);
    for (const [number, expiry] of this.#spent) if (expiry < now) this.#spent.delete(number);
  }

  /** The tags, for the state file. */
  toJSON(): ReplayCacheJson {
    const tags: ReplayTagJson[] = [];
    for (const [key, entry] of this.#entries) {
      tags.push(
        entry.context === undefined ? [key, entry.expiry] : [key, entry.expiry, entry.context],
      );
    }
    return tags;
  }

  /**
   * The spent marks, packed: big-endian `(sequence number, expiry in unix seconds)` pairs of 32-bit
   * words, 8 bytes a mark (a user knocking 50 times a second holds about 12,000).
   */
  spentBytes(): Uint8Array {
    const packed = new DataView(new ArrayBuffer(this.#spent.size * 8));
    let offset = 0;
    for (const [number, expiry] of this.#spent) {
      packed.setUint32(offset, number);
      packed.setUint32(offset + 4, Math.min(0xffff_ffff, Math.max(0, Math.ceil(expiry))));
      offset += 8;
    }
    return new Uint8Array(packed.buffer);
  }

  /**
   * Adds the marks of {@linkcode spentBytes} output.
   *
   * @throws {TypeError} When `bytes` is not a whole number of 8-byte marks.
   */
  restoreSpent(bytes: Uint8Array): void {
    if (bytes.length % 8 !== 0) {
      throw new TypeError("Cannot restore spent marks: not a whole number of 8-byte marks");
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let offset = 0; offset < bytes.length; offset += 8) {
      const number = view.getUint32(offset);
      this.#spent.set(number, Math.max(view.getUint32(offset + 4), this.#spent.get(number) ?? 0));
    }
  }

  #markSpent(live: LiveContext): void {
    const verdicts = new Map<string, boolean>();
    let marked = false;
    for (const [key, entry] of this.#entries) {
      const context = entry.context;
      // Only sequence numbers can be spent: a minute can come back (a clock stepped back).
      if (context === undefined || !context.startsWith("n")) continue;
      let isLive = verdicts.get(context);
      if (isLive === undefined) verdicts.set(context, isLive = live(context));
      if (isLive) continue;
      const number = Number(context.slice(1));
      this.#spent.set(number, Math.max(entry.expiry, this.#spent.get(number) ?? 0));
      this.#entries.delete(key);
      marked = true;
    }
    if (marked) this.#spentVersion++;
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
        !Array.isArray(entry) || typeof entry[0] !== "string" || !TAG_HEX.test(entry[0]) ||
        typeof entry[1] !== "number" || !Number.isFinite(entry[1]) ||
        !(entry.length === 2 ||
          (entry.length === 3 && typeof entry[2] === "string" && CONTEXT.test(entry[2])))
      ) {
        throw new TypeError("Cannot restore replay cache: an entry is not [hex tag, expiry]");
      }
      cache.#entries.set(entry[0], { expiry: entry[1], context: entry[2] as string | undefined });
    }
    return cache;
  }
}

const CONTEXT = /^[nm]\d{1,10}$/;
const TAG_HEX = /^[0-9a-f]{32}$/;

function tagKey(tag: Uint8Array): string {
  if (tag.length !== TAG_LENGTH) {
    throw new TypeError(`Cannot use tag: expected ${TAG_LENGTH} bytes`);
  }
  return encodeHex(tag);
}
