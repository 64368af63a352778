/**
 * The client's requests (knock, check, resync) sealed as the server expects them, each paired with
 * the verification of its reply (ack, resync-reply). See PROTOCOL.md for the wire contract.
 *
 * @module
 */

import { TRAILER_LENGTH } from "../protocol/constants.ts";
import { deriveBindingKey, deriveMessageKey, type MessageKey } from "../protocol/key_schedule.ts";
import type { L4Protocol, PortSpec } from "../protocol/port.ts";
import { openTrailer } from "../protocol/open.ts";
import { minuteOf } from "../protocol/random.ts";
import { sealTrailer, tagOf } from "../protocol/seal.ts";
import type { Secret } from "../config/secret.ts";
import type { Request } from "./exchange.ts";

/** A user's key as the client holds it. */
export interface ClientKey {
  /** The user id. */
  readonly uid: number;
  /** The 32-byte secret (never printed). */
  readonly secret: Secret;
}

/** Options of {@linkcode rollRequest}. */
export interface RollRequestOptions {
  /** The sequence number the request is keyed by. */
  current: number;
  /** The number to roll to. */
  next: number;
  /** Ask to open this (a knock); without it the request is a check. */
  open?: PortSpec;
  /** Bind the knock to this source address (4 or 16 bytes), as the server will see it. */
  binding?: Uint8Array;
  /** Random bytes before the trailer. */
  pad: number;
  /** The clock, unix seconds (default: now). */
  clock?: () => number;
  /** Reply-age window in seconds. */
  maxAge: number;
}

/** A verified ack. */
export interface Ack {
  /** What was opened (null for a check). */
  protocol: L4Protocol | null;
  /** The port opened (0 for a check). */
  port: number;
  /** The server's clock when it answered, unix seconds. */
  timestamp: number;
}

/** A verified resync reply. */
export type ResyncReply =
  | { status: "ok"; sequence: number; graceSeconds: number; timestamp: number }
  | { status: "clock-skew"; timestamp: number };

/** Unix seconds now. */
export function unixNow(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * A knock (with `open`) or a check (without) keyed by `current`, asking to roll to `next`, and the
 * verification of its ack: keyed by `next`, bound to the request's tag, fresh, and confirming what
 * was asked (for a knock the same protocol and port; for a check none).
 *
 * @example
 * ```ts
 * import { rollRequest } from "./messages.ts";
 * import { Secret } from "../config/secret.ts";
 * const key = { uid: 1000, secret: new Secret(new Uint8Array(32)) };
 * const request = rollRequest(key, { current: 5, next: 6, pad: 3, maxAge: 120 });
 * if (request.payload.length !== 40) throw new Error("3 bytes of padding, then the trailer");
 * ```
 */
export function rollRequest(key: ClientKey, options: RollRequestOptions): Request<Ack> {
  const clock = options.clock ?? unixNow;
  const secret = key.secret.bytes();
  try {
    const now = clock();
    const kind = options.open === undefined ? "check" : "knock";
    const requestKey = deriveMessageKey(secret, key.uid, kind, options.current);
    const binding = options.binding === undefined
      ? undefined
      : { key: deriveBindingKey(secret, key.uid), address: options.binding };
    const trailer = options.open === undefined
      ? sealTrailer(requestKey, { kind: "check", next: options.next, timestamp: now })
      : sealTrailer(requestKey, {
        kind: "knock",
        protocol: options.open.protocol,
        port: options.open.port,
        next: options.next,
        timestamp: now,
      }, binding === undefined ? {} : { binding });
    requestKey.destroy();
    // The ack's key is derived at the first reply, not here: nothing it needs has to wait the send.
    let ackKey: MessageKey | undefined;
    const ackKeyOf = (): MessageKey => {
      if (ackKey !== undefined) return ackKey;
      const bytes = key.secret.bytes();
      try {
        return ackKey = deriveMessageKey(bytes, key.uid, "ack", options.next);
      } finally {
        bytes.fill(0);
      }
    };
    const requestTag = tagOf(trailer);
    const expectedProtocol = options.open?.protocol ?? null;
    const expectedPort = options.open?.port ?? 0;
    return {
      payload: withPadding(trailer, options.pad),
      verify(tail: Uint8Array): Ack | undefined {
        const verdict = openTrailer(tail, (uid) => uid === key.uid ? [ackKeyOf()] : undefined, {
          now: clock(),
          maxAge: options.maxAge,
          requestTag,
        });
        if (!verdict.ok || verdict.message.kind !== "ack") return undefined;
        const { protocol, port, timestamp } = verdict.message;
        if (protocol !== expectedProtocol || port !== expectedPort) return undefined;
        return { protocol, port, timestamp };
      },
    };
  } finally {
    secret.fill(0);
  }
}

/**
 * A resync request keyed by the current UTC minute, and the verification of its reply (keyed by
 * the same minute, bound to the request's tag). The reply's age is not checked against the
 * window: it answers this fresh request, and a clock-skew reply carries the server's clock.
 *
 * @example
 * ```ts
 * import { resyncRequest } from "./messages.ts";
 * import { Secret } from "../config/secret.ts";
 * const key = { uid: 1000, secret: new Secret(new Uint8Array(32)) };
 * if (resyncRequest(key, { pad: 0 }).payload.length !== 37) throw new Error("a bare trailer");
 * ```
 */
export function resyncRequest(
  key: ClientKey,
  options: { pad: number; clock?: () => number },
): Request<ResyncReply> {
  const clock = options.clock ?? unixNow;
  const secret = key.secret.bytes();
  try {
    const now = clock();
    const minute = minuteOf(now);
    const requestKey = deriveMessageKey(secret, key.uid, "resync", minute);
    const trailer = sealTrailer(requestKey, { kind: "resync", timestamp: now });
    requestKey.destroy();
    const replyKey = deriveMessageKey(secret, key.uid, "resync-reply", minute);
    const requestTag = tagOf(trailer);
    return {
      payload: withPadding(trailer, options.pad),
      verify(tail: Uint8Array): ResyncReply | undefined {
        const verdict = openTrailer(tail, (uid) => uid === key.uid ? [replyKey] : undefined, {
          now: clock(),
          maxAge: Infinity,
          requestTag,
        });
        if (!verdict.ok || verdict.message.kind !== "resync-reply") return undefined;
        const { status, sequence, graceSeconds, timestamp } = verdict.message;
        switch (status) {
          case "ok":
            return { status, sequence, graceSeconds, timestamp };
          case "clock-skew":
            return { status, timestamp };
          default: {
            const unreachable: never = status;
            throw new TypeError(`Cannot handle resync status: ${unreachable}`);
          }
        }
      },
    };
  } finally {
    secret.fill(0);
  }
}

/** `pad` random bytes followed by the trailer. */
function withPadding(trailer: Uint8Array, pad: number): Uint8Array {
  const payload = new Uint8Array(pad + TRAILER_LENGTH);
  if (pad > 0) crypto.getRandomValues(payload.subarray(0, pad));
  payload.set(trailer, pad);
  return payload;
}
