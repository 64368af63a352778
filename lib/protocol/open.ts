/**
 * Opening a trailer, cheapest check first: length → known UID → tag (constant-time, before any
 * decryption) → fields → age → source binding → replay cache. The result is a typed verdict,
 * never an exception.
 *
 * The hot path is split so a daemon can put its own cheap checks between the steps:
 * {@linkcode findKey} (tags only, allocates nothing) and {@linkcode openWithKey} (everything after
 * the tag matched). {@linkcode openTrailer} runs the whole order in one call.
 *
 * @module
 */

import { FLAG_SOURCE_BOUND, TAG_LENGTH, TRAILER_LENGTH, UID_LENGTH } from "./constants.ts";
import type { BindingKey, MessageKey } from "./key_schedule.ts";
import { decodeBlock, type Message } from "./message.ts";
import { contextKey, type LiveContext, type ReplayCache } from "./replay_cache.ts";
import { readUid } from "./uid.ts";

/** Why a trailer was refused, in the order the checks run. */
export type RejectReason =
  /** Not exactly 37 bytes. */
  | "length"
  /** No such user. */
  | "unknown-uid"
  /** The tag is wrong under every key tried: forged, tampered, wrong sequence, wrong kind. */
  | "tag"
  /** Authentic, but a field is out of place (version, flags, protocol, port, sequence). */
  | "fields"
  /** Authentic, but its timestamp is older than the age window. */
  | "stale"
  /** Authentic, but its timestamp is further ahead than the age window. */
  | "future"
  /** Authentic and bound, but it came from another address. */
  | "binding"
  /** Authentic, but already used. */
  | "replay"
  /** Authentic, but the replay cache is full of live entries, so it cannot be remembered. */
  | "replay-cache-full";

/** Every reject reason, for counters. */
export const REJECT_REASONS: readonly RejectReason[] = [
  "length",
  "unknown-uid",
  "tag",
  "fields",
  "stale",
  "future",
  "binding",
  "replay",
  "replay-cache-full",
];

/**
 * The outcome of opening a trailer. A reject after authentication carries the message, so the
 * receiver can log what an authentic but refused packet asked for (never a secret).
 */
export type Verdict =
  | { ok: true; message: Message }
  | { ok: false; reason: RejectReason; message?: Message };

/** What the checks after the tag need. */
export interface OpenOptions {
  /** The receiver's clock, unix seconds. */
  now: number;
  /** The packet-age window in seconds (default 120 in the configs). */
  maxAge: number;
  /** The source address the packet came from (4 or 16 bytes); needed for bound knocks. */
  source?: Uint8Array;
  /** The user's binding key; needed for bound knocks. */
  bindingKey?: BindingKey;
  /** For replies: the tag of the request they answer. */
  requestTag?: Uint8Array;
  /**
   * Used tags. An accepted packet, and a bound packet from the wrong address, are remembered until
   * `now + 2 * maxAge`; a remembered packet is refused as a replay.
   */
  replay?: ReplayCache;
  /**
   * Which contexts (sequence numbers, minutes) can still verify: when the replay cache is full, the
   * tags of the others give way to spent marks (see `replay_cache.ts`) instead of refusing.
   */
  live?: LiveContext;
}

/**
 * The first key among `keys` under which the trailer at `offset` authenticates, else `undefined`.
 * Reads 37 bytes from `offset`; allocates nothing. The caller has checked the length.
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * import { sealTrailer } from "./seal.ts";
 * import { findKey } from "./open.ts";
 * const secret = new Uint8Array(32);
 * const knock = deriveMessageKey(secret, 7, "knock", 1);
 * const check = deriveMessageKey(secret, 7, "check", 1);
 * const trailer = sealTrailer(check, { kind: "check", next: 2, timestamp: 0 });
 * if (findKey(trailer, 0, [knock, check]) !== check) throw new Error("expected the check key");
 * ```
 */
export function findKey(
  trailer: Uint8Array,
  offset: number,
  keys: readonly MessageKey[],
  requestTag?: Uint8Array,
): MessageKey | undefined {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (key.verifyTag(trailer, offset, requestTag)) return key;
  }
  return undefined;
}

/**
 * Everything after the tag matched under `key`: decrypt, fields, age, binding, replay.
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * import { sealTrailer } from "./seal.ts";
 * import { openWithKey } from "./open.ts";
 * const key = deriveMessageKey(new Uint8Array(32), 7, "knock", 1);
 * const trailer = sealTrailer(key, { kind: "knock", protocol: "tcp", port: 22, next: 2, timestamp: 1000 });
 * const verdict = openWithKey(trailer, 0, key, { now: 1000, maxAge: 120 });
 * if (!verdict.ok) throw new Error(verdict.reason);
 * ```
 */
export function openWithKey(
  trailer: Uint8Array,
  offset: number,
  key: MessageKey,
  options: OpenOptions,
): Verdict {
  const sealed = trailer.subarray(offset + UID_LENGTH, offset + UID_LENGTH + 16);
  const decoded = decodeBlock(key.kind, key.context, key.decryptBlock(sealed));
  if (decoded === undefined) return { ok: false, reason: "fields" };
  const bound = (decoded.flags & FLAG_SOURCE_BOUND) !== 0;
  const tag = trailer.slice(offset + TRAILER_LENGTH - TAG_LENGTH, offset + TRAILER_LENGTH);
  const message: Message = { ...decoded.body, uid: key.uid, context: key.context, bound, tag };

  const age = options.now - message.timestamp;
  if (age > options.maxAge) return { ok: false, reason: "stale", message };
  if (-age > options.maxAge) return { ok: false, reason: "future", message };

  const expiry = options.now + 2 * options.maxAge;
  const context = contextKey(key.kind, key.context);
  if (bound) {
    const matches = options.source !== undefined && options.bindingKey !== undefined &&
      (options.source.length === 4 || options.source.length === 16) &&
      options.bindingKey.digest(options.source) === decoded.last4;
    if (!matches) {
      // Burn it: an attacker replaying it from his own address gets one guess, not many.
      options.replay?.remember(tag, expiry, options.now, context, options.live);
      return { ok: false, reason: "binding", message };
    }
  }
  if (options.replay !== undefined) {
    if (options.replay.has(tag, options.now, context)) {
      return { ok: false, reason: "replay", message };
    }
    if (!options.replay.remember(tag, expiry, options.now, context, options.live)) {
      return { ok: false, reason: "replay-cache-full", message };
    }
  }
  return { ok: true, message };
}

/** Finds the keys to try for a user id; `undefined` for an unknown user. */
export type KeyLookup = (uid: number) => readonly MessageKey[] | undefined;

/**
 * Opens a 37-byte trailer in the full order: length → UID → tag → fields → age → binding → replay.
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * import { sealTrailer } from "./seal.ts";
 * import { openTrailer } from "./open.ts";
 * const key = deriveMessageKey(new Uint8Array(32), 7, "knock", 1);
 * const trailer = sealTrailer(key, { kind: "knock", protocol: "tcp", port: 22, next: 2, timestamp: 1000 });
 * const lookup = (uid: number) => uid === 7 ? [key] : undefined;
 * const verdict = openTrailer(trailer.subarray(1), lookup, { now: 1000, maxAge: 120 });
 * if (verdict.ok || verdict.reason !== "length") throw new Error("a truncated trailer is refused");
 * ```
 */
export function openTrailer(bytes: Uint8Array, lookup: KeyLookup, options: OpenOptions): Verdict {
  if (bytes.length !== TRAILER_LENGTH) return { ok: false, reason: "length" };
  const keys = lookup(readUid(bytes, 0));
  if (keys === undefined) return { ok: false, reason: "unknown-uid" };
  const key = findKey(bytes, 0, keys, options.requestTag);
  if (key === undefined) return { ok: false, reason: "tag" };
  return openWithKey(bytes, 0, key, options);
}
