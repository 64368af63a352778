/**
 * A user as the daemon holds her, for tests that drive the verifier and the pipeline directly:
 * "alice", allowed from any source, with a fresh replay cache and no knock accepted yet.
 *
 * @module
 */

import { ReplayCache } from "../../lib/protocol/replay_cache.ts";
import type { PortSpec } from "../../lib/protocol/port.ts";
import { UserKeys } from "../../lib/server/user_keys.ts";
import type { ServerUser } from "../../lib/server/users.ts";

/** Alice with `uid`, `secret` and current number `sequence`, allowed `ports` (tcp/22). */
export function testUser(
  uid: number,
  secret: Uint8Array,
  sequence: number,
  ports: readonly PortSpec[] = [{ protocol: "tcp", port: 22 }],
): ServerUser {
  return {
    uid,
    fingerprint: "0000000000000000",
    policy: {
      name: "alice",
      ports,
      sources: { contains: () => true },
      requireSourceBinding: false,
    },
    keys: new UserKeys(uid, secret, { state: "current", sequence }),
    replay: new ReplayCache(),
    lastAccepted: undefined,
  };
}
