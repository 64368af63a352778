/**
 * Durable user state: what the daemon writes to its state folder for a user (her sequence state,
 * last accepted request and replay cache), and how a failed write is reported.
 *
 * @module
 */

import type { ServerStore } from "../state/server_store.ts";
import type { Logger } from "./log.ts";
import { type ServerUser, stateOf, type UserState } from "./users.ts";

/** Writes users' state into the store. */
export class UserCommitter {
  readonly #store: ServerStore;
  readonly #log: Logger;
  readonly #committed: () => void;

  /** Writes into `store`; `committed` is called after each write (the status is then due). */
  constructor(store: ServerStore, log: Logger, committed: () => void) {
    this.#store = store;
    this.#log = log;
    this.#committed = committed;
  }

  /** Durably stores `state` (by default, what `user` holds) with her replay cache. */
  async commit(user: ServerUser, state: UserState = stateOf(user)): Promise<void> {
    await this.#store.save(user.uid, user.fingerprint, {
      sequence: state.sequence,
      replay: user.replay,
      ...(state.lastAccepted ? { lastAccepted: state.lastAccepted } : {}),
    });
    this.#committed();
  }

  /** Stores what `user` holds; a failure is logged (`state-write-failed`), never thrown. */
  commitOrLog(user: ServerUser): Promise<void> {
    return this.commit(user).catch((error) => this.failed(user, error));
  }

  /** Logs that `user`'s state could not be written. */
  failed(user: ServerUser, error: unknown): void {
    this.#log.error("state-write-failed", {
      user: user.policy.name,
      reason: (error as Error).message,
    });
  }
}
