/**
 * A user as the daemon holds it: policy from the config, live keys, the replay cache and the last
 * accepted request (to answer its retransmission). The table of all users is in `user_table.ts`.
 *
 * @module
 */

import type { GrantTarget } from "../firewall/backend.ts";
import { findPort, type PortSpec } from "../protocol/port.ts";
import type { ReplayCache } from "../protocol/replay_cache.ts";
import type { ServerSequence } from "../state/sequence.ts";
import type { UserKeys } from "./user_keys.ts";

/** A grant of one user: the port and address it opens, and whose it is. */
export interface UserGrant extends GrantTarget {
  /** The user's name. */
  readonly user: string;
}

/** A grant to open in the firewall. */
export interface GrantRequest extends UserGrant {
  /** The port's idle timeout. */
  readonly idleTimeoutMs: number;
}

/** What a user may do, from the config. */
export interface UserPolicy {
  /** Name for logs and status. */
  readonly name: string;
  /** Ports the user may open. */
  readonly ports: readonly PortSpec[];
  /** Source prefixes the user may knock from. */
  readonly sources: { contains(address: Uint8Array): boolean };
  /** Refuse knocks that are not bound to their source address. */
  readonly requireSourceBinding: boolean;
}

/** Why a policy refuses a grant: the port, the source address, or an unbound knock. */
export type PolicyRefusal = "port" | "source" | "binding";

/**
 * Whether `policy` allows opening `port` for `source` (4 or 16 bytes; `undefined` for an address
 * that does not parse): `undefined` when it does, else why not. `bound` says whether the knock was
 * bound to its source address; leave it out when no knock is at hand (a grant already open, a
 * reload), and the binding rule is not applied.
 *
 * @example
 * ```ts
 * import { policyRefusal } from "./users.ts";
 * const policy = {
 *   name: "alice",
 *   ports: [{ protocol: "tcp" as const, port: 22 }],
 *   sources: { contains: (address: Uint8Array) => address[0] === 10 },
 *   requireSourceBinding: true,
 * };
 * const source = new Uint8Array([10, 0, 0, 1]);
 * if (policyRefusal(policy, { protocol: "tcp", port: 22 }, source, true) !== undefined) {
 *   throw new Error("allowed");
 * }
 * if (policyRefusal(policy, { protocol: "udp", port: 22 }, source) !== "port") throw new Error();
 * if (policyRefusal(policy, { protocol: "tcp", port: 22 }, source, false) !== "binding") {
 *   throw new Error();
 * }
 * ```
 */
export function policyRefusal(
  policy: UserPolicy,
  port: PortSpec,
  source: Uint8Array | undefined,
  bound?: boolean,
): PolicyRefusal | undefined {
  if (findPort(policy.ports, port) === undefined) return "port";
  if (source === undefined || !policy.sources.contains(source)) return "source";
  if (bound === false && policy.requireSourceBinding) return "binding";
  return undefined;
}

/** The last knock or check the daemon accepted for a user. */
export interface LastAccepted {
  /** The 37-byte trailer as received. */
  readonly trailer: Uint8Array;
  /** Its source address (4 or 16 bytes). */
  readonly source: Uint8Array;
  /** The timestamp inside it (unix seconds): it is answered again only within the age window. */
  readonly timestamp: number;
  /** The 37-byte reply trailer sent for it. */
  readonly reply: Uint8Array;
  /** The grant it opened, if a knock. */
  readonly grant?: PortSpec;
}

/** A user held by the daemon. */
export interface ServerUser {
  readonly uid: number;
  /** The fingerprint of the user's key (recorded in the state file). */
  readonly fingerprint: string;
  /** Replaced in place by a config reload. */
  policy: UserPolicy;
  readonly keys: UserKeys;
  readonly replay: ReplayCache;
  lastAccepted: LastAccepted | undefined;
}

/**
 * The state of a user that her accepted packets change: computed into a value, committed durably,
 * then published with {@linkcode publishState}.
 */
export interface UserState {
  /** Her sequence state. */
  readonly sequence: ServerSequence;
  /** Her last accepted knock or check. */
  readonly lastAccepted: LastAccepted | undefined;
}

/** The state `user` holds now. */
export function stateOf(user: ServerUser): UserState {
  return { sequence: user.keys.sequence, lastAccepted: user.lastAccepted };
}

/**
 * Makes `state` the user's, at once: her keys follow its sequence (derived once, the old ones
 * destroyed) and its last accepted request is answered again from now on.
 */
export function publishState(user: ServerUser, state: UserState): void {
  if (state.sequence !== user.keys.sequence) user.keys.sequence = state.sequence;
  user.lastAccepted = state.lastAccepted;
}
