/**
 * The daemon's verifier and pipeline without root, for the pipeline tests: one user (alice, uid
 * 1000, tcp/22 and tcp/443), frames built with the packet codec, and fakes for the firewall, the
 * state store and the raw socket that record what happened and in which order.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { LINKTYPE_RAW } from "../../lib/packet/constants.ts";
import { decodeFrame } from "../../lib/packet/decode.ts";
import { encodeUdpPacket } from "../../lib/packet/encode.ts";
import { PacketView } from "../../lib/packet/view.ts";
import { deriveMessageKey } from "../../lib/protocol/key_schedule.ts";
import { sealTrailer } from "../../lib/protocol/seal.ts";
import { Counters } from "../../lib/server/counters.ts";
import { Logger } from "../../lib/server/log.ts";
import { Pipeline } from "../../lib/server/pipeline.ts";
import { ProbeBudget } from "../../lib/server/probe_budget.ts";
import { SourceRateLimit } from "../../lib/server/rate_limit.ts";
import { replyRouteOf } from "../../lib/server/reply_route.ts";
import type { ServerUser, UserState } from "../../lib/server/users.ts";
import { testUser } from "./_test_user.ts";
import { type VerifyContext, verifyPacket } from "../../lib/server/verifier.ts";

/** The user's secret (her server key). */
export const SECRET = new Uint8Array(32).fill(3);
/** The user's uid. */
export const UID = 1000;
/** The client's address. */
export const CLIENT = new Uint8Array([10, 77, 0, 2]);
/** The server's address. */
export const SERVER = new Uint8Array([10, 77, 0, 1]);

/** How the fakes behave. */
export interface WorldOptions {
  /** Every state write fails. */
  commitFails?: boolean;
  /** Decides each state write (after it is recorded): resolve, reject or wait. */
  commit?: (user: ServerUser, state: UserState) => Promise<void>;
  /** Decides each grant opened (a retransmission's or not): resolve, reject or wait. */
  open?: (retransmit: boolean) => Promise<void>;
}

/** What a test drives and inspects. */
export interface PipelineWorld {
  user: ServerUser;
  pipeline: Pipeline;
  /** `open <address> <port>`, `commit <state> <sequence>` and `reply`, in order. */
  events: string[];
  replies: Uint8Array[];
  /** The daemon's log lines. */
  lines: string[];
  /** Each grant opened: whether as a retransmission's. */
  opens: boolean[];
  /** Each grant opened, as `<address> tcp/<port>`. */
  granted: string[];
  counters: Counters;
  context: VerifyContext;
  /** Verifies a UDP packet carrying `trailer` from `source`, and hands its outcome on. */
  deliver(trailer: Uint8Array, source?: Uint8Array): Promise<void>;
  /** A knock for tcp/`port` under `sequence`, asking for `next`, timestamped now. */
  knock(sequence: number, next: number, port?: number): Uint8Array;
  now(): number;
  advance(ms: number): number;
  /** A reload gave the user a new key: her old object is no longer the daemon's. */
  replaceUser(): ServerUser;
}

/** A verifier, a pipeline and one user, with fakes that record (see the module doc). */
export function pipelineWorld(options: WorldOptions = {}): PipelineWorld {
  let clock = Date.parse("2026-11-27T12:00:30Z");
  const events: string[] = [];
  const replies: Uint8Array[] = [];
  const lines: string[] = [];
  const opens: boolean[] = [];
  const granted: string[] = [];
  const counters = new Counters();
  const user = testUser(UID, SECRET, 100, [
    { protocol: "tcp", port: 22 },
    { protocol: "tcp", port: 443 },
  ]);
  let current: ServerUser = user;
  const pipeline = new Pipeline({
    isCurrent: (u) => u === current,
    openGrant: (grant, grantOptions) => {
      events.push(`open ${grant.address} ${grant.protocol}/${grant.port}`);
      opens.push(grantOptions?.retransmit === true);
      granted.push(`${grant.address} ${grant.protocol}/${grant.port}`);
      return options.open?.(grantOptions?.retransmit === true) ?? Promise.resolve();
    },
    commit: (committed, state) => {
      events.push(`commit ${state.sequence.state} ${state.sequence.sequence}`);
      if (options.commit !== undefined) return options.commit(committed, state);
      return options.commitFails ? Promise.reject(new Error("disk full")) : Promise.resolve();
    },
    reply: (_route, trailer) => {
      events.push("reply");
      replies.push(trailer);
    },
    idleTimeoutMs: () => 300_000,
    resyncGraceMs: () => 600_000,
    log: new Logger("text", (line) => lines.push(line)),
    counters,
    now: () => clock,
  });
  const context: VerifyContext = {
    users: new Map([[UID, user]]),
    limit: new SourceRateLimit({ failedPerSecond: 1, failedBurst: 3 }),
    probe: new ProbeBudget(),
    counters,
    maxAgeSeconds: 120,
    underLoad: false,
  };
  const view = new PacketView();
  /** Verifies a UDP packet carrying `trailer` from `source`, and hands its outcome on. */
  const deliver = (trailer: Uint8Array, source = CLIENT): Promise<void> => {
    const frame = encodeUdpPacket({
      source,
      destination: SERVER,
      sourcePort: 40000,
      destinationPort: 22,
      payload: trailer,
    });
    equal(decodeFrame(LINKTYPE_RAW, frame, frame.length, view), "ok");
    const outcome = verifyPacket(context, frame, view, clock);
    return outcome === undefined
      ? Promise.resolve()
      : pipeline.handle(outcome, replyRouteOf(frame, view));
  };
  /** A knock for tcp/`port` under `sequence`, asking for `next`, timestamped now. */
  const knock = (sequence: number, next: number, port = 22) =>
    sealTrailer(deriveMessageKey(SECRET, UID, "knock", sequence), {
      kind: "knock",
      protocol: "tcp",
      port,
      next,
      timestamp: Math.floor(clock / 1000),
    });
  return {
    user,
    pipeline,
    events,
    replies,
    lines,
    opens,
    granted,
    counters,
    context,
    deliver,
    knock,
    now: () => clock,
    advance: (ms: number) => (clock += ms),
    /** A reload gave the user a new key: her old object is no longer the daemon's. */
    replaceUser: () => (current = { ...user }),
  };
}
