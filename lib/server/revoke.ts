/**
 * Revocation: which live grants a (re)loaded config no longer allows.
 *
 * Removing a user, a port from a user, or the address a grant is for from a user's `sources` takes
 * effect at once: the daemon closes those grants in the firewall (not waiting for the kernel's idle
 * timeout, which traffic keeps refreshing) and forgets the user's last accepted knock for a port
 * she may no longer open, so its retransmission cannot reopen it. Grants are matched to users by
 * name, as they are logged and shown: renaming a user revokes her grants.
 *
 * @module
 */

import { parseAddress } from "../packet/address.ts";
import type { GrantTarget } from "../firewall/backend.ts";
import type { GrantBook } from "./grants.ts";
import type { Logger } from "./log.ts";
import { policyRefusal, type ServerUser, type UserGrant } from "./users.ts";
import { formatPortSpec } from "../protocol/port.ts";

/** Why a grant is revoked. */
export type RevokeReason = "user-removed" | "port-removed" | "source-removed";

/**
 * The grants among `grants` that `users` (the new config's) no longer allow, each with its reason.
 *
 * @example
 * ```ts
 * import { revocations } from "./revoke.ts";
 * const grants = [{ user: "alice", address: "10.77.0.2", protocol: "tcp" as const, port: 22 }];
 * const out = revocations(grants, []);
 * if (out.length !== 1 || out[0]!.reason !== "user-removed") throw new Error("unexpected");
 * ```
 */
export function revocations<G extends UserGrant>(
  grants: readonly G[],
  users: Iterable<Pick<ServerUser, "policy">>,
): { grant: G; reason: RevokeReason }[] {
  const byName = new Map<string, Pick<ServerUser, "policy">>();
  for (const user of users) byName.set(user.policy.name, user);
  const out: { grant: G; reason: RevokeReason }[] = [];
  for (const grant of grants) {
    const user = byName.get(grant.user);
    if (user === undefined) {
      out.push({ grant, reason: "user-removed" });
      continue;
    }
    const refusal = policyRefusal(user.policy, grant, parseAddress(grant.address));
    if (refusal !== undefined) {
      out.push({ grant, reason: refusal === "port" ? "port-removed" : "source-removed" });
    }
  }
  return out;
}

/**
 * Forgets each user's last accepted knock when her policy no longer allows the port it opened or
 * the address it came from (its retransmission would otherwise open the port again). Returns the
 * users changed.
 *
 * @example
 * ```ts
 * import { forgetRevokedKnocks } from "./revoke.ts";
 * const policy = {
 *   name: "alice",
 *   ports: [{ protocol: "tcp" as const, port: 2222 }], // tcp/22 was removed by a reload
 *   sources: { contains: () => true },
 *   requireSourceBinding: false,
 * };
 * const lastAccepted = {
 *   trailer: new Uint8Array(37),
 *   source: new Uint8Array([10, 77, 0, 2]),
 *   timestamp: 0,
 *   reply: new Uint8Array(37),
 *   grant: { protocol: "tcp" as const, port: 22 },
 * };
 * const alice = { policy, lastAccepted };
 * if (forgetRevokedKnocks([alice]).length !== 1) throw new Error("alice changed");
 * if (alice.lastAccepted !== undefined) throw new Error("her knock is forgotten");
 * ```
 */
export function forgetRevokedKnocks<U extends Pick<ServerUser, "policy" | "lastAccepted">>(
  users: Iterable<U>,
): U[] {
  const changed: U[] = [];
  for (const user of users) {
    const last = user.lastAccepted;
    if (last?.grant === undefined) continue;
    if (policyRefusal(user.policy, last.grant, last.source) !== undefined) {
      user.lastAccepted = undefined;
      changed.push(user);
    }
  }
  return changed;
}

/**
 * Closes, in the firewall and then in the book, every grant `users` no longer allow, logging each
 * as `revoke` (and `close … reason=revoked-…` with its `on_close`). A grant the firewall refuses
 * to close is logged as `revoke-failed` and kept.
 *
 * @returns Whether every revocation was done (false: retry later).
 * @example
 * ```ts
 * import { NoneBackend } from "../firewall/none.ts";
 * import { GrantBook } from "./grants.ts";
 * import { Logger } from "./log.ts";
 * import { revokeGrants } from "./revoke.ts";
 * const firewall = new NoneBackend();
 * await firewall.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 * const log = new Logger("text", () => {});
 * const book = new GrantBook({
 *   firewall,
 *   commands: () => ({}),
 *   commandTimeoutMs: 10_000,
 *   log,
 *   now: () => performance.now(),
 * });
 * const grant = { user: "alice", address: "10.77.0.2", protocol: "tcp" as const, port: 22 };
 * await book.open({ ...grant, idleTimeoutMs: 300_000 });
 * // The reloaded config has no user alice: her grant closes.
 * if (!await revokeGrants(book, firewall, [], log)) throw new Error("retry later");
 * if (book.snapshot().length !== 0 || (await firewall.list()).length !== 0) throw new Error();
 * await firewall.stop();
 * ```
 */
export async function revokeGrants(
  book: Pick<GrantBook, "snapshot" | "revoke">,
  firewall: { close(target: GrantTarget): Promise<void> },
  users: Iterable<Pick<ServerUser, "policy">>,
  log: Logger,
): Promise<boolean> {
  let done = true;
  for (const { grant, reason } of revocations(book.snapshot(), users)) {
    const fields = {
      user: grant.user,
      address: grant.address,
      port: formatPortSpec(grant),
    };
    try {
      await book.revoke(grant, `revoked-${reason}`, async () => {
        await firewall.close(grant);
        log.warn("revoke", { ...fields, reason });
      });
    } catch (error) {
      done = false;
      log.error("revoke-failed", { ...fields, reason: (error as Error).message });
    }
  }
  return done;
}
