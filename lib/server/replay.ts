/**
 * Every replay rule of the daemon, in one place: when a packet is the user's last accepted one
 * again (a retransmission to answer again) and when it is a replay (to drop), which tags the
 * replay cache must keep, and which numbers a user has spent. The verifier and the pipeline ask
 * these questions; neither judges a replay itself. The cache itself (`../protocol/replay_cache.ts`)
 * and its check in the protocol's order (`../protocol/open.ts`) are the mechanism these rules feed.
 *
 * @module
 */

import type { MessageKey } from "../protocol/key_schedule.ts";
import type { OpenOptions } from "../protocol/open.ts";
import { contextKey } from "../protocol/replay_cache.ts";
import { serverValidSequences } from "../state/sequence.ts";
import type { LastAccepted, ServerUser } from "./users.ts";

/**
 * The user's last accepted trailer, when the 37 bytes at `offset` of `frame` are that trailer
 * byte for byte (compared in constant time); else `undefined`. Allocates nothing.
 *
 * @example
 * ```ts
 * import { lastAcceptedAgain } from "./replay.ts";
 * const trailer = new Uint8Array(37).fill(7);
 * const last = { trailer, source: new Uint8Array(4), timestamp: 0, reply: new Uint8Array(37) };
 * if (lastAcceptedAgain(last, trailer, 0) !== last) throw new Error("the same bytes");
 * if (lastAcceptedAgain(last, new Uint8Array(37), 0) !== undefined) throw new Error("others");
 * ```
 */
export function lastAcceptedAgain(
  last: LastAccepted | undefined,
  frame: Uint8Array,
  offset: number,
): LastAccepted | undefined {
  return last !== undefined && equalBytes(frame, offset, last.trailer) ? last : undefined;
}

/**
 * Whether a copy of `last` from `source` at `nowSeconds` is its retransmission (answered again):
 * from the address it came from and within the age window. Any other copy is a replay.
 *
 * @example
 * ```ts
 * import { isRetransmission } from "./replay.ts";
 * const source = new Uint8Array([10, 77, 0, 2]);
 * const last = { trailer: new Uint8Array(37), source, timestamp: 1000, reply: new Uint8Array(37) };
 * if (!isRetransmission(last, source, 1100, 120)) throw new Error("a retransmission");
 * if (isRetransmission(last, new Uint8Array([10, 77, 0, 9]), 1100, 120)) throw new Error("a replay");
 * if (isRetransmission(last, source, 1121, 120)) throw new Error("too old");
 * ```
 */
export function isRetransmission(
  last: LastAccepted,
  source: Uint8Array,
  nowSeconds: number,
  maxAgeSeconds: number,
): boolean {
  return equalBytes(source, 0, last.source) && nowSeconds - last.timestamp <= maxAgeSeconds;
}

/**
 * Whether a retransmission of `last`, queued earlier, may still be answered when its turn comes:
 * only while `last` is still the user's last accepted knock or check (a knock accepted, or a
 * grant revoked, since then must not be re-opened for this packet's source).
 */
export function stillLast(user: ServerUser, last: LastAccepted): boolean {
  return user.lastAccepted === last;
}

/**
 * Whether the sequence number `keyedBy` is spent for `user`: no longer among the numbers her
 * state accepts (another packet under the same number was handled first: two clients at once).
 */
export function sequenceSpent(user: ServerUser, keyedBy: number): boolean {
  return !serverValidSequences(user.keys.sequence).includes(keyedBy);
}

/** What `openWithKey` needs to check and remember a tag of `user` (see `OpenOptions`). */
export function replayOptions(user: ServerUser): Pick<OpenOptions, "replay" | "live"> {
  return { replay: user.replay, live: (context) => liveContext(user, context) };
}

/**
 * A resync from a skewed clock is answered once per packet: `true` when this one (`tag` under
 * `key`) was answered before (a replay, to drop); else remembers it and returns `false`.
 * `refused`: the protocol's checks already refused it (stale or future), so the cache was not
 * consulted yet.
 */
export function skewProbeReplayed(
  user: ServerUser,
  tag: Uint8Array,
  key: MessageKey,
  refused: boolean,
  now: number,
  maxAgeSeconds: number,
): boolean {
  const context = contextKey(key.kind, key.context);
  if (refused && user.replay.has(tag, now, context)) return true;
  user.replay.remember(tag, now + 2 * maxAgeSeconds, now, context);
  return false;
}

/**
 * Whether a replay-cache context can still verify for `user`: a sequence number while the user's
 * state accepts it (its keys are among those tried first); a resync minute always (its tags only
 * expire with time, since a clock stepped back makes an old minute current again).
 */
function liveContext(user: ServerUser, context: string): boolean {
  if (context.startsWith("m")) return true;
  const number = Number(context.slice(1));
  return user.keys.primary.some((key) => key.context === number);
}

function equalBytes(a: Uint8Array, offset: number, b: Uint8Array): boolean {
  if (a.length - offset < b.length) return false;
  let diff = 0;
  for (let i = 0; i < b.length; i++) diff |= a[offset + i]! ^ b[i]!;
  return diff === 0;
}
