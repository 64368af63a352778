/**
 * What the daemon does with an authentic packet: policy, then the durable sequence roll, then the
 * firewall, then the answer — in that order, one user at a time. The pipeline is the one owner of
 * a user's sequence state and last accepted request: it computes the next state into a value
 * (`next_state.ts`), commits it, and only then publishes it; grace periods end in the user's turn.
 *
 * The new sequence state is committed to disk before a port opens, so a crash can never leave a
 * port opened by a number the server would accept again; if the firewall then fails, nothing is
 * answered and the client's retransmission (recognised as the last accepted packet) retries it.
 * Nothing is ever answered before authentication.
 *
 * @module
 */

import type { Message } from "../protocol/message.ts";
import { sealTrailer } from "../protocol/seal.ts";
import { formatAddress } from "../packet/address.ts";
import { serverAfterGrace } from "../state/sequence.ts";
import type { Counters } from "./counters.ts";
import type { Logger } from "./log.ts";
import type { ReplyRoute } from "./reply_route.ts";
import { TokenBucket } from "./token_bucket.ts";
import { formatPortSpec, type PortSpec } from "../protocol/port.ts";
import { nextState } from "./next_state.ts";
import { sequenceSpent, stillLast } from "./replay.ts";
import {
  type GrantRequest,
  type PolicyRefusal,
  policyRefusal,
  publishState,
  type ServerUser,
  stateOf,
  type UserState,
} from "./users.ts";
import type { Outcome } from "./verifier.ts";

/** What the pipeline needs from the rest of the daemon. */
export interface PipelineDeps {
  /**
   * Opens or refreshes a grant (firewall, then on_open bookkeeping); resolves only once the grant
   * is in the kernel. `retransmit`: the request repeats an accepted one (see `GrantBook.open`).
   */
  openGrant(grant: GrantRequest, options?: { retransmit?: boolean }): Promise<void>;
  /**
   * Whether `user` is still the daemon's user for its uid: work queued before a reload that
   * removed the user or replaced her key is dropped when its turn comes.
   */
  isCurrent(user: ServerUser): boolean;
  /**
   * Durably stores `state` as the user's (her sequence state and last accepted request) with her
   * replay cache. Called before `state` is published: the user still holds the one before it.
   */
  commit(user: ServerUser, state: UserState): Promise<void>;
  /** Sends a reply trailer back along a route. */
  reply(route: ReplyRoute, trailer: Uint8Array): void;
  /** The idle timeout of a port. */
  idleTimeoutMs(port: PortSpec): number;
  /** The resync grace period. */
  resyncGraceMs(): number;
  log: Logger;
  counters: Counters;
  /** Clock, milliseconds. */
  now(): number;
}

/** The `reason` logged for each policy refusal. */
const REFUSALS: Readonly<Record<PolicyRefusal, string>> = {
  port: "port not allowed for this user",
  source: "source address not allowed for this user",
  binding: "knock not bound to its source address",
};

/** Refused-message log lines allowed per user per minute (the rest are only counted). */
export const REFUSED_LOG_PER_MINUTE = 10;
/**
 * Answers to retransmissions allowed per user: a burst of this many, then this many per second.
 * A client retries about once a second; a replayed copy beyond it is dropped and counted.
 */
export const RETRANSMIT_ACKS_BURST = 3;
/** Outcomes waiting per user; more are dropped and counted (`queue-full`). */
export const MAX_QUEUED_PER_USER = 8;

/**
 * Handles outcomes of the verifier, serialised per user.
 *
 * @example
 * ```ts
 * import type { PacketView } from "../packet/view.ts";
 * import { Pipeline, type PipelineDeps } from "./pipeline.ts";
 * import { replyRouteOf } from "./reply_route.ts";
 * import type { Verifier } from "./verifier.ts";
 * // The daemon's packet path, given its parts: type-checked by `deno test --doc`, not run.
 * async function handleOne(
 *   deps: PipelineDeps,
 *   verifier: Verifier,
 *   frame: Uint8Array,
 *   view: PacketView,
 * ): Promise<void> {
 *   const pipeline = new Pipeline(deps);
 *   const outcome = verifier.verify(frame, view, Date.now());
 *   if (outcome) void pipeline.handle(outcome, replyRouteOf(frame, view));
 *   await pipeline.idle();
 * }
 * ```
 */
export class Pipeline {
  readonly #deps: PipelineDeps;
  readonly #queues = new Map<number, Promise<void>>();
  readonly #refusedLog = new Map<number, TokenBucket>();
  readonly #reacks = new Map<number, TokenBucket>();
  /** Per user: outcomes queued or running, and retransmissions queued and not yet started. */
  readonly #pending = new Map<number, { total: number; retransmits: number }>();

  constructor(deps: PipelineDeps) {
    this.#deps = deps;
  }

  /**
   * Queues `outcome` behind earlier work for the same user. Never rejects. The queue is bounded:
   * at most {@linkcode MAX_QUEUED_PER_USER} outcomes per user, of which one retransmission waiting
   * (a storm of replayed copies collapses into it); the rest are dropped and counted.
   */
  handle(outcome: Outcome, route: ReplyRoute): Promise<void> {
    const uid = outcome.user.uid;
    const retransmit = outcome.kind === "retransmit";
    const pending = this.#pending.get(uid) ?? { total: 0, retransmits: 0 };
    if (retransmit && pending.retransmits > 0) {
      this.#deps.counters.count("retransmit-limited");
      return Promise.resolve();
    }
    if (pending.total >= MAX_QUEUED_PER_USER) {
      this.#deps.counters.count("queue-full");
      return Promise.resolve();
    }
    pending.total++;
    if (retransmit) pending.retransmits++;
    this.#pending.set(uid, pending);
    return this.inTurn(outcome.user, () => {
      if (retransmit) pending.retransmits--;
      return this.#handle(outcome, route);
    }).catch((error) => {
      this.#deps.log.error("internal-error", {
        user: outcome.user.policy.name,
        reason: String(error),
      });
    }).finally(() => {
      if (--pending.total === 0) this.#pending.delete(uid);
    });
  }

  /** Resolves when every queued outcome has been handled. */
  async idle(): Promise<void> {
    while (this.#queues.size > 0) await Promise.all(this.#queues.values());
  }

  async #handle(outcome: Outcome, route: ReplyRoute): Promise<void> {
    const { log, counters } = this.#deps;
    const user = outcome.user;
    if (!this.#deps.isCurrent(user)) {
      counters.count("user-reloaded");
      return;
    }
    const name = user.policy.name;
    const address = formatAddress(outcome.source);
    switch (outcome.kind) {
      case "retransmit": {
        // Only the knock it matched, and only while it is still the user's last: a knock accepted
        // (or revoked) since then must not be re-opened for this packet's source.
        const last = outcome.last;
        if (!stillLast(user, last)) {
          counters.count("replay");
          return;
        }
        // The config of the day decides: a port or source a reload took away is not reopened.
        if (last.grant !== undefined && policyRefusal(user.policy, last.grant, last.source)) {
          counters.count("policy");
          return;
        }
        if (!this.#reackAllowed(user)) {
          counters.count("retransmit-limited");
          return;
        }
        counters.count("retransmit");
        // An ack means open: answered only once the grant is in the kernel again.
        if (last.grant !== undefined && !(await this.#open(user, address, last.grant, true))) {
          return;
        }
        this.#deps.reply(route, last.reply);
        log.info("retransmit", {
          user: name,
          address,
          port: last.grant && formatPortSpec(last.grant),
        });
        return;
      }
      case "clock-skew": {
        const now = this.#nowSeconds();
        const reply = sealTrailer(
          user.keys.replyKey("resync-reply", outcome.message.context),
          {
            kind: "resync-reply",
            status: "clock-skew",
            sequence: 0,
            graceSeconds: 0,
            timestamp: now,
          },
          { requestTag: outcome.message.tag },
        );
        this.#deps.reply(route, reply);
        log.warn("clock-skew", {
          user: name,
          address,
          skew_seconds: outcome.message.timestamp - now,
        });
        return;
      }
      case "refused":
        this.#logRefused(user, address, outcome.reason, outcome.message);
        return;
      case "accepted":
        await this.#accepted(user, address, route, outcome);
        return;
      default:
        unreachable(outcome);
    }
  }

  /**
   * The next state is computed into locals, committed durably, and only then published (one
   * {@linkcode publishState}): until the commit succeeds the user holds her old state, so a
   * failed write leaves nothing to undo.
   */
  async #accepted(
    user: ServerUser,
    address: string,
    route: ReplyRoute,
    outcome: Extract<Outcome, { kind: "accepted" }>,
  ): Promise<void> {
    const { log, counters } = this.#deps;
    const { message, key } = outcome;
    if (
      (message.kind === "knock" || message.kind === "check") && sequenceSpent(user, key.context)
    ) {
      // Another packet under the same number was handled first (two clients at once).
      counters.count("replay");
      this.#logRefused(user, address, "sequence number already used", message);
      return;
    }
    if (message.kind === "knock" && this.#refusedByPolicy(user, address, route, message)) return;
    const next = nextState(
      user,
      { message, keyedBy: key.context, trailer: outcome.trailer, source: route.remote },
      this.#deps.now(),
      this.#deps.resyncGraceMs(),
    );
    // Replies never reach a server: their keys are not among the ones it tries.
    if (next === undefined) return;
    try {
      await this.#deps.commit(user, next.state);
    } catch (error) {
      // Not durable, so not done: nothing published, nothing opened, nothing answered.
      log.error("state-write-failed", { user: user.policy.name, reason: (error as Error).message });
      return;
    }
    // A reload may have taken the port, the source or the user away while the commit ran (its
    // revocation saw nothing to revoke yet): then the number is spent, but nothing opens.
    if (message.kind === "knock" && this.#refusedByPolicy(user, address, route, message)) {
      publishState(user, { ...next.state, lastAccepted: undefined });
      return;
    }
    publishState(user, next.state);
    counters.count("accepted");
    const grant = next.grant;
    if (grant !== undefined && !(await this.#open(user, address, grant))) return;
    this.#deps.reply(route, next.reply);
    log.info(message.kind === "knock" ? "accept" : message.kind, {
      user: user.policy.name,
      address,
      port: grant && formatPortSpec(grant),
      bound: message.kind === "knock" ? message.bound : undefined,
    });
  }

  /**
   * Ends `user`'s resync grace period if it is over at `nowMs`, in her turn (after the work queued
   * before it, so it never races an accepted packet's commit). The state is committed, then
   * published; a failed write is logged and the expiry published anyway (it only narrows what is
   * accepted). Resolves with whether the grace period ended.
   */
  expireGrace(user: ServerUser, nowMs: number): Promise<boolean> {
    // Cheap check first: most ticks find no grace period to end and queue nothing.
    if (serverAfterGrace(user.keys.sequence, nowMs) === user.keys.sequence) {
      return Promise.resolve(false);
    }
    return this.inTurn(user, async () => {
      if (!this.#deps.isCurrent(user)) return false;
      const current = stateOf(user);
      const sequence = serverAfterGrace(current.sequence, nowMs);
      if (sequence === current.sequence) return false;
      const state = { ...current, sequence };
      await this.#deps.commit(user, state).catch((error) =>
        this.#deps.log.error("state-write-failed", {
          user: user.policy.name,
          reason: (error as Error).message,
        })
      );
      publishState(user, state);
      return true;
    });
  }

  /**
   * Runs `work` in `user`'s turn: after everything queued for her before it, and before anything
   * queued after. Whoever changes or writes a user's state outside a packet (the grace tick, a
   * reload's commit) goes through here, so two writes of one user never race.
   */
  inTurn<T>(user: ServerUser, work: () => Promise<T>): Promise<T> {
    const uid = user.uid;
    const previous = this.#queues.get(uid) ?? Promise.resolve();
    const next = previous.then(work);
    const settled = next.then(() => {}, () => {});
    this.#queues.set(uid, settled);
    settled.finally(() => {
      if (this.#queues.get(uid) === settled) this.#queues.delete(uid);
    });
    return next;
  }

  #reackAllowed(user: ServerUser): boolean {
    const nowMs = this.#deps.now();
    let bucket = this.#reacks.get(user.uid);
    if (bucket === undefined) {
      bucket = new TokenBucket(1, RETRANSMIT_ACKS_BURST, nowMs);
      this.#reacks.set(user.uid, bucket);
    }
    return bucket.take(1, nowMs);
  }

  async #open(
    user: ServerUser,
    address: string,
    grant: PortSpec,
    retransmit = false,
  ): Promise<boolean> {
    try {
      await this.#deps.openGrant({
        user: user.policy.name,
        address,
        protocol: grant.protocol,
        port: grant.port,
        idleTimeoutMs: this.#deps.idleTimeoutMs(grant),
      }, retransmit ? { retransmit } : {});
      return true;
    } catch (error) {
      this.#deps.log.error("open-failed", {
        user: user.policy.name,
        address,
        port: formatPortSpec(grant),
        reason: (error as Error).message,
      });
      return false;
    }
  }

  /** Whether the config of the day refuses `knock` (counted and logged when it does). */
  #refusedByPolicy(
    user: ServerUser,
    address: string,
    route: ReplyRoute,
    knock: Extract<Message, { kind: "knock" }>,
  ): boolean {
    if (!this.#deps.isCurrent(user)) {
      this.#deps.counters.count("user-reloaded"); // as #handle counts it
      return true;
    }
    const grant: PortSpec = { protocol: knock.protocol, port: knock.port };
    const refusal = this.#policyRefusal(user, knock.bound, grant, route.remote);
    if (refusal === undefined) return false;
    this.#deps.counters.count("policy");
    this.#deps.log.warn("refused", {
      user: user.policy.name,
      address,
      port: formatPortSpec(grant),
      reason: refusal,
    });
    return true;
  }

  #policyRefusal(
    user: ServerUser,
    bound: boolean,
    grant: PortSpec,
    source: Uint8Array,
  ): string | undefined {
    const refusal = policyRefusal(user.policy, grant, source, bound);
    return refusal === undefined ? undefined : REFUSALS[refusal];
  }

  #logRefused(
    user: ServerUser,
    address: string,
    reason: string,
    message: Message | undefined,
  ): void {
    const nowMs = this.#deps.now();
    let bucket = this.#refusedLog.get(user.uid);
    if (bucket === undefined) {
      bucket = new TokenBucket(REFUSED_LOG_PER_MINUTE / 60, REFUSED_LOG_PER_MINUTE, nowMs);
      this.#refusedLog.set(user.uid, bucket);
    }
    if (!bucket.take(1, nowMs)) return;
    this.#deps.log.warn("refused", {
      user: user.policy.name,
      address,
      kind: message?.kind,
      reason,
      age_seconds: message ? Math.round(this.#nowSeconds() - message.timestamp) : undefined,
    });
  }

  #nowSeconds(): number {
    return Math.floor(this.#deps.now() / 1000);
  }
}

function unreachable(value: never): never {
  throw new TypeError(`Cannot handle outcome: ${JSON.stringify(value)}`);
}
