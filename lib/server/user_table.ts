/**
 * The daemon's users, by UID, made for many of them (10,000 and more): a user costs her policy and
 * her key file's 32 bytes until her first packet arrives. Only then is her server key derived, her
 * state file read (one synchronous read) and her keys derived; she is "live" from then on.
 *
 * So start and reload read no state file and derive no key, and the per-second tick walks only the
 * live users. A user whose state file cannot be read is refused (her packets count as
 * `unknown-uid`) with one `user-state-unreadable` line: starting her again from her key file's
 * initial sequence would accept knocks already used.
 *
 * @module
 */

import { type KeyFile, keyForServer } from "../config/key_file.ts";
import type { UserConfig } from "../config/server.ts";
import { type Busy, pauser } from "../config/_pause.ts";
import { keyFingerprint } from "../protocol/key_schedule.ts";
import { serverAfterGrace } from "../state/sequence.ts";
import type { ServerStore } from "../state/server_store.ts";
import type { Logger } from "./log.ts";
import { forgetRevokedKnocks } from "./revoke.ts";
import { UserKeys } from "./user_keys.ts";
import type { ServerUser, UserPolicy } from "./users.ts";

/** What a {@linkcode UserTable} needs. */
export interface UserTableDeps {
  store: Pick<ServerStore, "loadSync">;
  log: Logger;
  /** Persists a live user whose state changed while loading (a revoked knock forgotten). */
  commit(user: ServerUser): void;
  now(): number;
}

/** The settings a table loads users with (from the config of the day). */
export interface UserTableSettings {
  readonly serverId: string;
  readonly replayCapacity: number;
}

interface Entry {
  readonly uid: number;
  policy: UserPolicy;
  /** The key file's contents (the user's secret, or this server's key). */
  readonly key: KeyFile;
  live: ServerUser | undefined;
  /** Her state file could not be read: refused until the next reload. */
  unusable: boolean;
}

/**
 * Users by UID, loaded on first use.
 *
 * @example
 * ```ts
 * import { writeKeyFile } from "../config/key_file.ts";
 * import { Secret } from "../config/secret.ts";
 * import { loadServerConfig } from "../config/server_load.ts";
 * import { ServerStore } from "../state/server_store.ts";
 * import { Logger } from "./log.ts";
 * import { UserTable } from "./user_table.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 });
 * await Deno.writeTextFile(
 *   `${dir}/server.toml`,
 *   `server_id = "web1"\ninterfaces = ["lo"]\nstate_dir = "state"\nfirewall = "nft"\n` +
 *     `[[users]]\nuid = 1000\nname = "alice"\nkey_file = "alice.key"\nports = ["tcp/22"]\n`,
 * );
 * const loaded = await loadServerConfig(`${dir}/server.toml`);
 * const table = new UserTable({
 *   store: new ServerStore(loaded.config.stateDir),
 *   log: new Logger("text", () => {}),
 *   commit: () => {},
 *   now: () => Date.now(),
 * });
 * await table.replace(loaded.config.users, loaded.keys, loaded.config);
 * const user = table.get(1000); // derives and reads her state now, the first time
 * if (user?.policy.name !== "alice" || table.liveCount !== 1) throw new Error("not loaded");
 * table.destroy();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class UserTable {
  readonly #deps: UserTableDeps;
  #entries = new Map<number, Entry>();
  readonly #live = new Set<ServerUser>();
  #settings: UserTableSettings = { serverId: "", replayCapacity: 16 };

  constructor(deps: UserTableDeps) {
    this.#deps = deps;
  }

  /** How many users are configured. */
  get size(): number {
    return this.#entries.size;
  }

  /** How many users have sent a packet since start (their keys and state are in memory). */
  get liveCount(): number {
    return this.#live.size;
  }

  /** The user of `uid`, loading her the first time; `undefined` when unknown or unusable. */
  get(uid: number): ServerUser | undefined {
    const entry = this.#entries.get(uid);
    if (entry === undefined || entry.unusable) return undefined;
    return entry.live ?? this.#load(entry);
  }

  /**
   * Whether `user` is still the table's live object for her uid (not removed, not re-keyed by a
   * reload); loads nobody.
   */
  isLive(user: ServerUser): boolean {
    return this.#entries.get(user.uid)?.live === user;
  }

  /** Every configured user's policy (for revocation). */
  *policies(): Iterable<{ readonly policy: UserPolicy }> {
    yield* this.#entries.values();
  }

  /** The users loaded so far. */
  live(): Iterable<ServerUser> {
    return this.#live;
  }

  /**
   * Installs the users of a (re)loaded config. A user whose key is unchanged keeps her live object
   * (sequence state, replay cache, last accepted request) with the new policy; the keys of users
   * removed or re-keyed are destroyed. Returns the live users whose last accepted knock the new
   * policy no longer allows (forgotten: the caller persists them). It yields to the event loop
   * every few milliseconds, letting `busy` work (knocks in flight) go first.
   */
  async replace(
    users: readonly UserConfig[],
    keys: ReadonlyMap<number, KeyFile>,
    settings: UserTableSettings,
    busy?: Busy,
  ): Promise<ServerUser[]> {
    const sameServer = settings.serverId === this.#settings.serverId;
    this.#settings = settings;
    const next = new Map<number, Entry>();
    const pause = pauser(undefined, busy);
    for (const config of users) {
      const key = keys.get(config.uid);
      if (key === undefined) continue;
      // The user's config is her policy (one object less per user).
      const policy: UserPolicy = config;
      const old = this.#entries.get(config.uid);
      const keep = old !== undefined && sameServer && sameKey(old.key, key);
      if (keep && old.live !== undefined) old.live.policy = policy;
      next.set(config.uid, {
        uid: config.uid,
        policy,
        key: keep ? old.key : key,
        live: keep ? old.live : undefined,
        unusable: false,
      });
      await pause();
    }
    for (const [uid, entry] of this.#entries) {
      const live = entry.live;
      if (live !== undefined && next.get(uid)?.live !== live) {
        live.keys.destroy();
        this.#live.delete(live);
      }
    }
    this.#entries = next;
    return forgetRevokedKnocks(this.#live);
  }

  /** Destroys every live key (at stop). */
  destroy(): void {
    for (const user of this.#live) user.keys.destroy();
  }

  #load(entry: Entry): ServerUser | undefined {
    const { serverId, replayCapacity } = this.#settings;
    let secret: Uint8Array | undefined;
    try {
      secret = keyForServer(entry.key, serverId).secret.bytes();
      const fingerprint = keyFingerprint(secret, entry.uid);
      const record = this.#deps.store.loadSync(
        entry.uid,
        fingerprint,
        entry.key.sequence,
        replayCapacity,
      );
      const sequence = serverAfterGrace(record.sequence, this.#deps.now());
      const user: ServerUser = {
        uid: entry.uid,
        fingerprint,
        policy: entry.policy,
        keys: new UserKeys(entry.uid, secret, sequence),
        replay: record.replay,
        lastAccepted: record.lastAccepted,
      };
      entry.live = user;
      this.#live.add(user);
      if (record.fresh) {
        this.#deps.log.info("user-state-new", { user: entry.policy.name, uid: entry.uid });
      }
      // A knock her policy no longer allows (changed while she was not loaded) is forgotten.
      if (forgetRevokedKnocks([user]).length > 0 || sequence !== record.sequence) {
        this.#deps.commit(user);
      }
      return user;
    } catch (error) {
      entry.unusable = true;
      this.#deps.log.error("user-state-unreadable", {
        user: entry.policy.name,
        uid: entry.uid,
        reason: (error as Error).message,
      });
      return undefined;
    } finally {
      secret?.fill(0);
    }
  }
}

function sameKey(a: KeyFile, b: KeyFile): boolean {
  return a.source === b.source && a.serverId === b.serverId &&
    a.secret.equals(b.secret);
}
