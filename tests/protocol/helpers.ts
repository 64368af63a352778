/** Shared fixtures for the protocol tests. */

import { deriveMessageKey, type MessageKey } from "../../lib/protocol/key_schedule.ts";
import type { MessageKind } from "../../lib/protocol/message_kind.ts";

export const SECRET = new Uint8Array(32).map((_, i) => i + 1);
export const UID = 1000;
export const NOW = 1_800_000_000;

/** Hex of bytes. */
export { encodeHex as hex } from "../../lib/protocol/hex.ts";

/** Bytes of hex. */
export function unhex(text: string): Uint8Array {
  return new Uint8Array(text.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** A key of `kind` for the fixture user. */
export function key(kind: MessageKind, context: number, secret = SECRET, uid = UID): MessageKey {
  return deriveMessageKey(secret, uid, kind, context);
}
