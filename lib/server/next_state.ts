/**
 * What accepting an authentic knock, check or resync makes of a user's state, and the reply that
 * says so: computed from the state she holds into a value, never applied here. The pipeline
 * commits the value durably and only then publishes it (`publishState`), as wireguard-go's
 * `noise-protocol.go` computes a handshake's keys into locals before it installs them.
 *
 * @module
 */

import type { Message } from "../protocol/message.ts";
import type { PortSpec } from "../protocol/port.ts";
import { randomSequence } from "../protocol/random.ts";
import { sealTrailer } from "../protocol/seal.ts";
import { serverResynced, serverRolled, serverValidSequences } from "../state/sequence.ts";
import { type ServerUser, stateOf, type UserState } from "./users.ts";

/** The state accepting a message leads to, its reply, and for a knock the grant it opens. */
export interface NextState {
  readonly state: UserState;
  /** The 37-byte reply trailer. */
  readonly reply: Uint8Array;
  readonly grant?: PortSpec;
}

/** The packet accepted: its message, the number or minute it was keyed by, where it came from. */
export interface AcceptedPacket {
  readonly message: Message;
  /** The sequence number (knock, check) or minute (resync) its key was derived for. */
  readonly keyedBy: number;
  /** A copy of its 37-byte trailer. */
  readonly trailer: Uint8Array;
  /** Its source address (4 or 16 bytes). */
  readonly source: Uint8Array;
}

/**
 * The next state of `user` once `packet` is accepted, at `nowMs` with a resync grace period of
 * `graceMs`; `undefined` for a reply (replies never reach a server). The caller has checked the
 * packet is fresh, unused and allowed.
 *
 * @throws {RangeError} When a knock or check is keyed by a number the state does not accept, or
 * asks for a number that is not a sequence number.
 * @example
 * ```ts
 * import { nextState } from "./next_state.ts";
 * import { UserKeys } from "./user_keys.ts";
 * import { ReplayCache } from "../protocol/replay_cache.ts";
 * const user = {
 *   uid: 7,
 *   fingerprint: "0000000000000000",
 *   policy: { name: "alice", ports: [], sources: { contains: () => true }, requireSourceBinding: false },
 *   keys: new UserKeys(7, new Uint8Array(32), { state: "current", sequence: 100 }),
 *   replay: new ReplayCache(),
 *   lastAccepted: undefined,
 * };
 * const message = { kind: "check" as const, next: 101, timestamp: 1000, uid: 7, context: 100, bound: false, tag: new Uint8Array(16) };
 * const next = nextState(user, { message, keyedBy: 100, trailer: new Uint8Array(37), source: new Uint8Array(4) }, 1_000_000, 600_000);
 * if (next?.state.sequence.sequence !== 101) throw new Error("rolls to the number asked for");
 * if (user.keys.sequence.sequence !== 100) throw new Error("nothing is applied");
 * ```
 */
export function nextState(
  user: ServerUser,
  packet: AcceptedPacket,
  nowMs: number,
  graceMs: number,
): NextState | undefined {
  const { message, keyedBy } = packet;
  const now = Math.floor(nowMs / 1000);
  const current = stateOf(user);
  /** A knock or check asking for `next`, answered with `reply`. */
  const rolled = (next: number, reply: Uint8Array, grant?: PortSpec): NextState => ({
    state: {
      sequence: serverRolled(current.sequence, keyedBy, next),
      lastAccepted: {
        trailer: packet.trailer,
        source: packet.source,
        timestamp: message.timestamp,
        reply,
        ...(grant ? { grant } : {}),
      },
    },
    reply,
    ...(grant ? { grant } : {}),
  });
  switch (message.kind) {
    case "knock":
      return rolled(
        message.next,
        sealTrailer(
          user.keys.replyKey("ack", message.next),
          { kind: "ack", protocol: message.protocol, port: message.port, timestamp: now },
          { requestTag: message.tag },
        ),
        { protocol: message.protocol, port: message.port },
      );
    case "check":
      return rolled(
        message.next,
        sealTrailer(
          user.keys.replyKey("ack", message.next),
          { kind: "ack", protocol: null, port: 0, timestamp: now },
          { requestTag: message.tag },
        ),
      );
    case "resync": {
      const fresh = randomSequence(serverValidSequences(current.sequence));
      const sequence = serverResynced(current.sequence, fresh, nowMs + graceMs);
      const pending = sequence.state === "pending" ? sequence.pending : fresh;
      const reply = sealTrailer(
        user.keys.replyKey("resync-reply", message.context),
        {
          kind: "resync-reply",
          status: "ok",
          sequence: pending,
          graceSeconds: Math.min(0xffff, Math.floor(graceMs / 1000)),
          timestamp: now,
        },
        { requestTag: message.tag },
      );
      return { state: { ...current, sequence }, reply };
    }
    default:
      return undefined;
  }
}
