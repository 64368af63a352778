/**
 * The real server rules behind a UDP socket, for the client's unprivileged tests: each datagram
 * that reaches 127.0.0.1 is made into the frame the daemon would capture (the packet codec), and
 * handed to the daemon's own verifier (`lib/server/verifier.ts`) and `Pipeline`
 * (`lib/server/pipeline.ts`) through its `PipelineDeps` seam; the pipeline's replies go back as
 * `spa-server` sends them over the udp transport (from the knocked port to the client's source
 * port, the 37-byte trailer as payload). Retransmission, resync, clock skew and replay are judged
 * by the server's code, not here: a change to the server's rules shows in the client tests.
 *
 * What stands in for the rest of the daemon: a firewall that always opens, a state store that
 * records what was committed, a clock `clockOffset` seconds off, and faults a network would make
 * (requests and replies lost, resyncs never answered).
 *
 * @module
 */

import dgram from "node:dgram";
import { DEFAULT_MAX_AGE_SECONDS } from "../../lib/protocol/constants.ts";
import { encodeHex } from "../../lib/protocol/hex.ts";
import { LINKTYPE_RAW } from "../../lib/packet/constants.ts";
import { formatAddress, parseAddress } from "../../lib/packet/address.ts";
import { decodeFrame } from "../../lib/packet/decode.ts";
import { encodeUdpPacket } from "../../lib/packet/encode.ts";
import { PacketView } from "../../lib/packet/view.ts";
import type { ServerSequence } from "../../lib/state/sequence.ts";
import { Counters } from "../../lib/server/counters.ts";
import { Logger } from "../../lib/server/log.ts";
import { Pipeline } from "../../lib/server/pipeline.ts";
import { ProbeBudget } from "../../lib/server/probe_budget.ts";
import { SourceRateLimit } from "../../lib/server/rate_limit.ts";
import { replyRouteOf } from "../../lib/server/reply_route.ts";
import type { ServerUser } from "../../lib/server/users.ts";
import { type Outcome, Verifier } from "../../lib/server/verifier.ts";
import { testUser } from "../server/_test_user.ts";

/** Whether the server answers resyncs (`silent`: they reach it, but it never acts on them). */
export type ResyncMode = "ok" | "silent";

/** Options of {@linkcode PipelineServer.start}. */
export interface PipelineServerOptions {
  /** The server key (`deriveServerKey(user secret, server id)`). */
  secret: Uint8Array;
  uid: number;
  /** The server's current sequence number. */
  sequence: number;
  /** Lose this many requests before the server sees any. */
  dropRequests?: number;
  /** Lose this many replies the server sends (a lost ack). */
  dropReplies?: number;
  resync?: ResyncMode;
  /** Seconds a resynced number stays pending (the daemon's `resync_grace`). */
  graceSeconds?: number;
  /** Offset of the server's clock from the real one, seconds. */
  clockOffset?: number;
}

/** A knock or check the server accepted (committed). */
export interface Accepted {
  kind: "knock" | "check";
  /** The number the request was keyed by (spent). */
  keyedBy: number;
  next: number;
  protocol?: string;
  port?: number;
  /** The length of the datagram's payload. */
  payloadLength: number;
  bound: boolean;
}

/** The real verifier and pipeline on 127.0.0.1; `await using` closes it. */
export class PipelineServer implements AsyncDisposable {
  readonly port: number;
  /** Every datagram received. */
  received = 0;
  /** Accepted knocks and checks, in the order committed (retransmissions not repeated). */
  readonly accepted: Accepted[] = [];
  /** Authentic packets the verifier refused, by reason. */
  readonly refused: string[] = [];
  /** The daemon's counters. */
  readonly counters = new Counters();
  /** The daemon's log lines (JSON). */
  readonly lines: string[] = [];
  options: PipelineServerOptions;
  readonly #socket: dgram.Socket;
  readonly #user: ServerUser;
  readonly #verifier: Verifier;
  readonly #pipeline: Pipeline;
  readonly #view = new PacketView();
  /** What each accepted knock or check asked, by trailer (hex), until it is committed. */
  readonly #asked = new Map<string, Accepted>();
  #closed: Promise<void> | undefined;

  private constructor(socket: dgram.Socket, options: PipelineServerOptions) {
    this.#socket = socket;
    this.options = options;
    this.port = socket.address().port;
    const now = () => Date.now() + (options.clockOffset ?? 0) * 1000;
    this.#user = testUser(options.uid, options.secret, options.sequence);
    this.#verifier = new Verifier({
      users: new Map([[options.uid, this.#user]]),
      limit: new SourceRateLimit({ failedPerSecond: 1, failedBurst: 3 }),
      probe: new ProbeBudget(ProbeBudget.defaults, now()),
      counters: this.counters,
      maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS,
    });
    this.#pipeline = new Pipeline({
      openGrant: () => Promise.resolve(),
      isCurrent: (user) => user === this.#user,
      commit: (user, state) => {
        const last = state.lastAccepted;
        if (last !== undefined && last !== user.lastAccepted) {
          const key = encodeHex(last.trailer);
          this.accepted.push(this.#asked.get(key)!);
          this.#asked.delete(key);
        }
        return Promise.resolve();
      },
      reply: (route, trailer) => {
        if ((this.options.dropReplies ?? 0) > 0) {
          this.options.dropReplies!--;
          return;
        }
        this.#socket.send(trailer, route.remotePort, formatAddress(route.remote));
      },
      idleTimeoutMs: () => 300_000,
      resyncGraceMs: () => (options.graceSeconds ?? 600) * 1000,
      log: new Logger("json", (line) => this.lines.push(line)),
      counters: this.counters,
      now,
    });
    socket.on("message", (message: Uint8Array, remote: dgram.RemoteInfo) => {
      this.#receive(new Uint8Array(message), remote, now());
    });
  }

  /** Binds 127.0.0.1 on an ephemeral port. */
  static async start(options: PipelineServerOptions): Promise<PipelineServer> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
    return new PipelineServer(socket, options);
  }

  /** The user's sequence state, as the server holds it. */
  get state(): ServerSequence {
    return this.#user.keys.sequence;
  }

  /** The numbers spent so far (keys of accepted knocks and checks). */
  get spent(): number[] {
    return this.accepted.map((a) => a.keyedBy);
  }

  /** Re-acks of the last accepted packet (the daemon's `retransmit` counter). */
  get retransmits(): number {
    return this.counters.snapshot().retransmit;
  }

  /** Resyncs answered, with a number or with "your clock is off" (the daemon's log events). */
  get resyncs(): number {
    return this.lines.map((line) => JSON.parse(line).event)
      .filter((event) => event === "resync" || event === "clock-skew").length;
  }

  #receive(payload: Uint8Array, remote: dgram.RemoteInfo, nowMs: number): void {
    this.received++;
    if ((this.options.dropRequests ?? 0) > 0) {
      this.options.dropRequests!--;
      return;
    }
    const frame = encodeUdpPacket({
      source: parseAddress(remote.address)!,
      destination: parseAddress("127.0.0.1")!,
      sourcePort: remote.port,
      destinationPort: this.port,
      payload,
    });
    if (decodeFrame(LINKTYPE_RAW, frame, frame.length, this.#view) !== "ok") {
      throw new Error("Cannot decode the frame made of a datagram");
    }
    const outcome = this.#verifier.verify(frame, this.#view, nowMs);
    if (outcome === undefined) return;
    if (outcome.kind === "refused") this.refused.push(outcome.reason);
    if (this.options.resync === "silent" && isResync(outcome)) return;
    if (
      outcome.kind === "accepted" &&
      (outcome.message.kind === "knock" || outcome.message.kind === "check")
    ) {
      const message = outcome.message;
      this.#asked.set(encodeHex(outcome.trailer), {
        kind: message.kind,
        keyedBy: outcome.key.context,
        next: message.next,
        payloadLength: payload.length,
        bound: message.bound,
        ...(message.kind === "knock" ? { protocol: message.protocol, port: message.port } : {}),
      });
    }
    void this.#pipeline.handle(outcome, replyRouteOf(frame, this.#view));
  }

  /** Lets queued work finish, then closes the socket; safe to call twice. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#closed ??= this.#pipeline.idle().then(() =>
      new Promise<void>((resolve) => this.#socket.close(() => resolve()))
    );
    return this.#closed;
  }
}

/** An authentic resync, answered (`accepted`) or to be told its clock is off (`clock-skew`). */
function isResync(outcome: Outcome): boolean {
  return outcome.kind === "clock-skew" ||
    (outcome.kind === "accepted" && outcome.message.kind === "resync");
}
