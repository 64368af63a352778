/**
 * The per-packet hot path: from a decoded frame to "drop silently" or something worth acting on.
 *
 * Cheapest first: payload long enough → known UID → (under load) the flow's failure budget → the
 * user's last accepted trailer, byte for byte (a retransmission whose ack was lost) → tags under the
 * user's knock and check keys and the resync keys of the accepted window (never budgeted) → the
 * clock-skew probe (budgeted per source and in total) → decrypt, fields, age, binding, replay.
 * Nothing here answers a packet or allocates for one that fails before authentication; every drop
 * is counted by reason.
 *
 * @module
 */

import { TRAILER_LENGTH } from "../protocol/constants.ts";
import type { MessageKey } from "../protocol/key_schedule.ts";
import type { Message } from "../protocol/message.ts";
import { findKey, openWithKey, type RejectReason } from "../protocol/open.ts";
import { minuteOf } from "../protocol/random.ts";
import type { PacketView } from "../packet/view.ts";
import { readUid } from "../protocol/uid.ts";
import type { Counters } from "./counters.ts";
import type { ProbeBudget } from "./probe_budget.ts";
import type { SourceRateLimit } from "./rate_limit.ts";
import { isRetransmission, lastAcceptedAgain, replayOptions, skewProbeReplayed } from "./replay.ts";
import type { LastAccepted, ServerUser } from "./users.ts";
import { UserKeys } from "./user_keys.ts";

/** What the daemon must do about an authentic packet. */
export type Outcome =
  /**
   * The user's last accepted knock or check (`last`) again, from the same source: answer it again.
   * `last` is the one it matched, so a newer accepted knock queued before it is never answered or
   * opened in its place.
   */
  | { kind: "retransmit"; user: ServerUser; source: Uint8Array; last: LastAccepted }
  /** An authentic, fresh, unused message; `trailer` is a copy of its 37 bytes. */
  | {
    kind: "accepted";
    user: ServerUser;
    source: Uint8Array;
    message: Message;
    key: MessageKey;
    trailer: Uint8Array;
  }
  /** An authentic resync from a clock outside the accepted window: say the clock is off. */
  | { kind: "clock-skew"; user: ServerUser; source: Uint8Array; message: Message }
  /** Authentic but refused (stale, replayed, wrong address...): log it, answer nothing. */
  | {
    kind: "refused";
    user: ServerUser;
    source: Uint8Array;
    message: Message | undefined;
    reason: RejectReason;
  };

/** What the verifier needs from the daemon. */
export interface VerifyContext {
  /** Users by UID (a lookup may load the user: see `user_table.ts`). */
  users: { get(uid: number): ServerUser | undefined };
  /** Failed-verification budgets per flow (source address and port), used under load. */
  limit: SourceRateLimit;
  /** What the clock-skew probe may cost, per source address and in total. */
  probe: ProbeBudget;
  /** Drop counters. */
  counters: Counters;
  /** Packet-age window, seconds. */
  maxAgeSeconds: number;
  /** Whether the capture is backlogged (the source budget applies only then). */
  underLoad: boolean;
}

/**
 * Inspects the last 37 bytes of the payload of a decoded frame. Returns `undefined` for a silent
 * drop (counted), or an {@linkcode Outcome}.
 *
 * @example
 * ```ts
 * import type { PacketView } from "../packet/view.ts";
 * import type { Pipeline } from "./pipeline.ts";
 * import { replyRouteOf } from "./reply_route.ts";
 * import { verifyPacket, type VerifyContext } from "./verifier.ts";
 * // The daemon's per-packet step, given its parts: type-checked by `deno test --doc`, not run.
 * function onPacket(ctx: VerifyContext, pipeline: Pipeline, frame: Uint8Array, view: PacketView) {
 *   const outcome = verifyPacket(ctx, frame, view, Date.now());
 *   if (outcome !== undefined) void pipeline.handle(outcome, replyRouteOf(frame, view));
 * }
 * ```
 */
export function verifyPacket(
  ctx: VerifyContext,
  frame: Uint8Array,
  view: PacketView,
  nowMs: number,
): Outcome | undefined {
  if (view.payloadLength < TRAILER_LENGTH) {
    ctx.counters.count("no-trailer");
    return undefined;
  }
  const offset = view.payloadOffset + view.payloadLength - TRAILER_LENGTH;
  const user = ctx.users.get(readUid(frame, offset));
  if (user === undefined) {
    ctx.counters.count("unknown-uid");
    return undefined;
  }
  const sourceKey = ctx.underLoad ? flowKey(frame, view) : 0;
  if (ctx.underLoad && !ctx.limit.allowed(sourceKey, nowMs)) {
    ctx.counters.count("rate-limited");
    return undefined;
  }
  const last = lastAcceptedAgain(user.lastAccepted, frame, offset);
  if (last !== undefined) {
    const source = view.sourceAddress(frame);
    if (isRetransmission(last, source, nowMs / 1000, ctx.maxAgeSeconds)) {
      return { kind: "retransmit", user, source, last };
    }
    ctx.counters.count("replay");
    return undefined;
  }
  const now = nowMs / 1000;
  const minute = minuteOf(now);
  let key = findKey(frame, offset, user.keys.primary);
  let resync = false;
  if (key === undefined) {
    key = findKey(frame, offset, user.keys.resyncKeys(minute));
    if (
      key === undefined && ctx.probe.open(nowMs) && ctx.probe.take(addressKey(frame, view), nowMs)
    ) {
      key = findKey(frame, offset, user.keys.skewProbeKeys(minute));
    }
    resync = key !== undefined;
  }
  if (key === undefined) {
    ctx.counters.count("tag");
    if (ctx.underLoad) ctx.limit.failed(sourceKey, nowMs);
    return undefined;
  }
  const source = view.sourceAddress(frame);
  const verdict = openWithKey(frame, offset, key, {
    now,
    maxAge: ctx.maxAgeSeconds,
    source,
    bindingKey: user.keys.bindingKey,
    ...replayOptions(user),
  });
  const message = verdict.message;
  if (
    resync && message !== undefined && isSkewed(verdict.ok ? undefined : verdict.reason, key, now)
  ) {
    // Authentic, but from a clock outside the window: answer once per packet that the clock is off.
    if (skewProbeReplayed(user, message.tag, key, !verdict.ok, now, ctx.maxAgeSeconds)) {
      ctx.counters.count("replay");
      return undefined;
    }
    ctx.counters.count("clock-skew");
    return { kind: "clock-skew", user, source, message };
  }
  if (!verdict.ok) {
    ctx.counters.count(verdict.reason);
    return { kind: "refused", user, source, message: verdict.message, reason: verdict.reason };
  }
  const trailer = frame.slice(offset, offset + TRAILER_LENGTH);
  return { kind: "accepted", user, source, message: verdict.message, key, trailer };
}

function isSkewed(reason: RejectReason | undefined, key: MessageKey, now: number): boolean {
  if (reason === "stale" || reason === "future") return true;
  return reason === undefined && !UserKeys.resyncInWindow(key.context, minuteOf(now));
}

/** An IPv4 source address as a number (no allocation), IPv6 as text. */
function addressKey(frame: Uint8Array, view: PacketView): number | string {
  const o = view.sourceOffset;
  if (view.family === 4) {
    return (frame[o]! * 2 ** 24 + (frame[o + 1]! << 16) + (frame[o + 2]! << 8) + frame[o + 3]!) + 1;
  }
  return view.formatSource(frame);
}

/**
 * A flow: the source address and port (0 for carriers without ports). Failure budgets are per
 * flow, so a flood spoofing a client's address from one port does not drain the budget of the
 * client's own knocks, which come from their own ports.
 */
function flowKey(frame: Uint8Array, view: PacketView): number | string {
  const address = addressKey(frame, view);
  return typeof address === "number"
    ? address * 65_536 + view.sourcePort
    : `${address}#${view.sourcePort}`;
}

/**
 * The daemon's verifier: the one owner of its {@linkcode VerifyContext}. The capture loop and a
 * reload change the context only through these methods.
 *
 * @example
 * ```ts
 * import { Verifier } from "./verifier.ts";
 * import { Counters } from "./counters.ts";
 * import { ProbeBudget } from "./probe_budget.ts";
 * import { SourceRateLimit } from "./rate_limit.ts";
 * import { PacketView } from "../packet/view.ts";
 * const counters = new Counters();
 * const verifier = new Verifier({
 *   users: new Map(),
 *   limit: new SourceRateLimit({ failedPerSecond: 1, failedBurst: 3 }),
 *   probe: new ProbeBudget(),
 *   counters,
 *   maxAgeSeconds: 120,
 * });
 * verifier.setUnderLoad(true);
 * const view = new PacketView();
 * if (verifier.verify(new Uint8Array(20), view, Date.now()) !== undefined) throw new Error();
 * if (counters.snapshot()["no-trailer"] !== 1) throw new Error("an empty payload is counted");
 * ```
 */
export class Verifier {
  readonly #context: VerifyContext;
  #checked = 0;

  /** A verifier over `context`, not under load. */
  constructor(context: Omit<VerifyContext, "underLoad">) {
    this.#context = { ...context, underLoad: false };
  }

  /** {@linkcode verifyPacket} under this verifier's context. */
  verify(frame: Uint8Array, view: PacketView, nowMs: number): Outcome | undefined {
    this.#checked++;
    return verifyPacket(this.#context, frame, view, nowMs);
  }

  /** Packets handed to {@linkcode Verifier.verify} so far: the daemon's measure of being busy. */
  get checked(): number {
    return this.#checked;
  }

  /** Says whether the capture is backlogged (a full batch): the source budget applies only then. */
  setUnderLoad(underLoad: boolean): void {
    this.#context.underLoad = underLoad;
  }

  /** Sets the packet-age window (a reload changed it), seconds. */
  setMaxAgeSeconds(seconds: number): void {
    this.#context.maxAgeSeconds = seconds;
  }
}
