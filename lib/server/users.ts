/**
 * A user as the daemon holds it: policy from the config, live keys, the replay cache and the last
 * accepted request (to answer its retransmission).
 *
 * @module
 */

import type { LoadedServerConfig } from "../config/server_load.ts";
import { keyFingerprint } from "../protocol/key_schedule.ts";
import type { ReplayCache } from "../protocol/replay_cache.ts";
import type { ServerStore } from "../state/server_store.ts";
import type { Logger } from "./log.ts";
import { UserKeys } from "./user_keys.ts";

/** A protocol and port, e.g. tcp/22. */
export interface PortRef {
  readonly protocol: "tcp" | "udp";
  readonly port: number;
}

/** What a user may do, from the config. */
export interface UserPolicy {
  /** Name for logs and status. */
  readonly name: string;
  /** Ports the user may open. */
  readonly ports: readonly PortRef[];
  /** Source prefixes the user may knock from. */
  readonly sources: { contains(address: Uint8Array): boolean };
  /** Refuse knocks that are not bound to their source address. */
  readonly requireSourceBinding: boolean;
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
  readonly grant?: PortRef;
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
 * The users of a (re)loaded config. A user whose key is unchanged keeps its live object (sequence
 * state, replay cache, last accepted request, and any work queued for it) with the new policy;
 * others are restored from the state store, or start from their key file's initial sequence.
 * Users no longer configured have their keys destroyed.
 *
 * @example
 * ```ts ignore
 * users = await loadUsers(loaded, users, store, log);
 * ```
 */
export async function loadUsers(
  loaded: LoadedServerConfig,
  current: ReadonlyMap<number, ServerUser>,
  store: ServerStore,
  log: Logger,
): Promise<Map<number, ServerUser>> {
  const users = new Map<number, ServerUser>();
  for (const config of loaded.config.users) {
    const key = loaded.keys.get(config.uid)!;
    const secret = key.secret.bytes();
    const fingerprint = keyFingerprint(secret, config.uid);
    const policy: UserPolicy = {
      name: config.name,
      ports: config.ports,
      sources: config.sources,
      requireSourceBinding: config.requireSourceBinding,
    };
    const existing = current.get(config.uid);
    if (existing !== undefined && existing.fingerprint === fingerprint) {
      existing.policy = policy;
      users.set(config.uid, existing);
    } else {
      const record = await store.load(
        config.uid,
        fingerprint,
        key.sequence,
        loaded.config.replayCapacity,
      );
      users.set(config.uid, {
        uid: config.uid,
        fingerprint,
        policy,
        keys: new UserKeys(config.uid, secret, record.sequence),
        replay: record.replay,
        lastAccepted: record.lastAccepted,
      });
      if (record.fresh) log.info("user-state-new", { user: config.name, uid: config.uid });
    }
    secret.fill(0);
  }
  for (const [uid, user] of current) if (users.get(uid) !== user) user.keys.destroy();
  return users;
}
