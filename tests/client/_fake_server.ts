/**
 * A tiny spa server for the client's unprivileged tests: a UDP socket on 127.0.0.1 that opens
 * knocks, checks and resyncs with `lib/protocol` and answers them as `spa-server` does over the
 * udp transport (from the knocked port to the client's source port, 37-byte trailer as payload).
 * It keeps the server's sequence state machine (`lib/state/sequence.ts`), re-acks its last
 * accepted packet from the same source, and can drop requests and replies to test retries.
 *
 * @module
 */

import dgram from "node:dgram";
import {
  DEFAULT_MAX_AGE_SECONDS,
  RESYNC_SKEW_MINUTES,
  RESYNC_SKEW_PROBE_MINUTES,
  TRAILER_LENGTH,
} from "../../lib/protocol/constants.ts";
import {
  deriveBindingKey,
  deriveMessageKey,
  type MessageKey,
} from "../../lib/protocol/key_schedule.ts";
import { findKey, openWithKey } from "../../lib/protocol/open.ts";
import { minuteOf, randomSequence } from "../../lib/protocol/random.ts";
import { ReplayCache } from "../../lib/protocol/replay_cache.ts";
import { sealTrailer } from "../../lib/protocol/seal.ts";
import {
  serverAfterGrace,
  serverResynced,
  serverRolled,
  type ServerSequence,
  serverValidSequences,
} from "../../lib/state/sequence.ts";
import { parseAddress } from "../../lib/packet/address.ts";

/** How the fake server answers resyncs. */
export type ResyncMode = "ok" | "clock-skew" | "silent";

/** Options of {@linkcode FakeServer.start}. */
export interface FakeServerOptions {
  /** The server key (`deriveServerKey(user secret, server id)`). */
  secret: Uint8Array;
  uid: number;
  /** The server's current sequence number. */
  sequence: number;
  /** Drop this many requests before answering any. */
  dropRequests?: number;
  /** Accept but do not answer this many accepted requests (a lost ack). */
  dropReplies?: number;
  resync?: ResyncMode;
  /** Seconds a resynced number stays pending. */
  graceSeconds?: number;
  /** Offset of the server's clock from the real one, seconds. */
  clockOffset?: number;
}

/** What the fake server saw and did. */
export interface Accepted {
  kind: "knock" | "check";
  /** The number the request was keyed by (spent). */
  keyedBy: number;
  next: number;
  protocol?: string;
  port?: number;
  payloadLength: number;
  bound: boolean;
}

/** The fake server; `await using` closes it. */
export class FakeServer implements AsyncDisposable {
  readonly port: number;
  state: ServerSequence;
  /** Every datagram received. */
  received = 0;
  /** Accepted knocks and checks, in order (retransmissions not repeated). */
  readonly accepted: Accepted[] = [];
  /** Re-acks of the last accepted packet. */
  retransmits = 0;
  /** Resync replies sent. */
  resyncs = 0;
  /** Authentic packets refused, by reason. */
  readonly refused: string[] = [];
  options: FakeServerOptions;
  readonly #socket: dgram.Socket;
  readonly #replay = new ReplayCache();
  #closed: Promise<void> | undefined;
  #last: { trailer: Uint8Array; source: string; reply: Uint8Array } | undefined;

  private constructor(socket: dgram.Socket, options: FakeServerOptions) {
    this.#socket = socket;
    this.options = options;
    this.port = socket.address().port;
    this.state = { state: "current", sequence: options.sequence };
    socket.on("message", (message: Uint8Array, remote: dgram.RemoteInfo) => {
      this.#handle(new Uint8Array(message), remote);
    });
  }

  /** Binds 127.0.0.1 on an ephemeral port. */
  static async start(options: FakeServerOptions): Promise<FakeServer> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    return new FakeServer(socket, options);
  }

  /** The numbers spent so far (keys of accepted knocks and checks). */
  get spent(): number[] {
    return this.accepted.map((a) => a.keyedBy);
  }

  #now(): number {
    return Math.floor(Date.now() / 1000) + (this.options.clockOffset ?? 0);
  }

  #handle(payload: Uint8Array, remote: dgram.RemoteInfo): void {
    this.received++;
    if ((this.options.dropRequests ?? 0) > 0) {
      this.options.dropRequests!--;
      return;
    }
    if (payload.length < TRAILER_LENGTH) return;
    const trailer = payload.slice(payload.length - TRAILER_LENGTH);
    const source = `${remote.address}:${remote.port}`;
    if (
      this.#last !== undefined && this.#last.source === source &&
      this.#last.trailer.every((b, i) => b === trailer[i])
    ) {
      this.retransmits++;
      this.#reply(this.#last.reply, remote);
      return;
    }
    const { secret, uid } = this.options;
    const now = this.#now();
    this.state = serverAfterGrace(this.state, now);
    const keys: MessageKey[] = [];
    for (const n of serverValidSequences(this.state)) {
      keys.push(
        deriveMessageKey(secret, uid, "knock", n),
        deriveMessageKey(secret, uid, "check", n),
      );
    }
    const minute = minuteOf(now);
    for (let m = minute - RESYNC_SKEW_PROBE_MINUTES; m <= minute + RESYNC_SKEW_PROBE_MINUTES; m++) {
      keys.push(deriveMessageKey(secret, uid, "resync", m));
    }
    const key = findKey(trailer, 0, keys);
    if (key === undefined) return;
    const resync = key.kind === "resync";
    const verdict = openWithKey(trailer, 0, key, {
      now,
      maxAge: resync ? RESYNC_SKEW_PROBE_MINUTES * 60 + 60 : DEFAULT_MAX_AGE_SECONDS,
      source: parseAddress(remote.address)!,
      bindingKey: deriveBindingKey(secret, uid),
      replay: this.#replay,
    });
    if (!verdict.ok) {
      this.refused.push(verdict.reason);
      return;
    }
    const message = verdict.message;
    const requestTag = message.tag;
    if (message.kind === "resync") {
      const mode = this.options.resync ?? "ok";
      if (mode === "silent") return;
      const skewed = Math.abs(key.context - minute) > RESYNC_SKEW_MINUTES;
      const replyKey = deriveMessageKey(secret, uid, "resync-reply", key.context);
      let reply: Uint8Array;
      if (mode === "clock-skew" || skewed) {
        reply = sealTrailer(replyKey, {
          kind: "resync-reply",
          status: "clock-skew",
          sequence: 0,
          graceSeconds: 0,
          timestamp: now,
        }, { requestTag });
      } else {
        const grace = this.options.graceSeconds ?? 600;
        const current = this.state.sequence;
        this.state = serverResynced(this.state, randomSequence([current]), now + grace);
        const pending = this.state.state === "pending" ? this.state.pending : current;
        reply = sealTrailer(replyKey, {
          kind: "resync-reply",
          status: "ok",
          sequence: pending,
          graceSeconds: grace,
          timestamp: now,
        }, { requestTag });
      }
      this.resyncs++;
      this.#reply(reply, remote);
      return;
    }
    if (message.kind !== "knock" && message.kind !== "check") return;
    this.state = serverRolled(this.state, key.context, message.next);
    this.accepted.push({
      kind: message.kind,
      keyedBy: key.context,
      next: message.next,
      payloadLength: payload.length,
      bound: message.bound,
      ...(message.kind === "knock" ? { protocol: message.protocol, port: message.port } : {}),
    });
    const ackKey = deriveMessageKey(secret, uid, "ack", message.next);
    const reply = sealTrailer(ackKey, {
      kind: "ack",
      protocol: message.kind === "knock" ? message.protocol : null,
      port: message.kind === "knock" ? message.port : 0,
      timestamp: now,
    }, { requestTag });
    this.#last = { trailer, source, reply };
    this.#reply(reply, remote);
  }

  #reply(reply: Uint8Array, remote: dgram.RemoteInfo): void {
    if ((this.options.dropReplies ?? 0) > 0) {
      this.options.dropReplies!--;
      return;
    }
    this.#socket.send(reply, remote.port, remote.address);
  }

  /** Closes the socket; safe to call twice. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => this.#socket.close(() => resolve()));
    return this.#closed;
  }
}
