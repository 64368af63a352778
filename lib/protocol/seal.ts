/**
 * Sealing a message into a 37-byte trailer: encrypt-then-MAC.
 *
 * `trailer = uid (5) || C (16) || T (16)` with `C = AES-256(encKey, block)` — one block through the
 * cipher as a pseudorandom permutation — and `T = HMAC-SHA256(macKey, uid || C [|| requestTag])`
 * truncated to 128 bits. Replies (ack, resync-reply) also cover the tag of the request they answer.
 *
 * @module
 */

import { FLAG_SOURCE_BOUND, TAG_LENGTH, TRAILER_LENGTH, UID_LENGTH } from "./constants.ts";
import type { BindingKey, MessageKey } from "./key_schedule.ts";
import { encodeBlock, type MessageBody } from "./message.ts";
import { isReply } from "./message_kind.ts";
import { writeUid } from "./uid.ts";

/** Options of {@linkcode sealTrailer}. */
export interface SealOptions {
  /** Four random bytes for the nonce; drawn from `crypto.getRandomValues` when absent. */
  nonce?: Uint8Array;
  /** Bind a knock to the source address the server will see. */
  binding?: { key: BindingKey; address: Uint8Array };
  /** For replies: the tag of the request being answered. */
  requestTag?: Uint8Array;
}

/**
 * Seals `body` under `key` into a 37-byte trailer.
 *
 * @throws {TypeError} When the body's kind is not the key's, a reply lacks its request tag, or a
 * binding is asked for anything but a knock.
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * import { sealTrailer } from "./seal.ts";
 * const key = deriveMessageKey(new Uint8Array(32), 1000, "knock", 41);
 * const trailer = sealTrailer(key, { kind: "knock", protocol: "tcp", port: 22, next: 42, timestamp: 1 });
 * if (trailer.length !== 37) throw new Error("a trailer is 37 bytes");
 * ```
 */
export function sealTrailer(
  key: MessageKey,
  body: MessageBody,
  options: SealOptions = {},
): Uint8Array {
  if (body.kind !== key.kind) {
    throw new TypeError(`Cannot seal ${body.kind}: the key is for ${key.kind}`);
  }
  const reply = isReply(key.kind);
  if (reply && options.requestTag?.length !== TAG_LENGTH) {
    throw new TypeError(`Cannot seal ${body.kind}: a reply needs the 16-byte tag of its request`);
  }
  if (options.binding !== undefined && body.kind !== "knock") {
    throw new TypeError(`Cannot seal ${body.kind}: only a knock can be bound to an address`);
  }
  let flags = 0;
  let last4: number;
  if (options.binding !== undefined) {
    flags |= FLAG_SOURCE_BOUND;
    last4 = options.binding.key.digest(options.binding.address);
  } else {
    const nonce = options.nonce ?? crypto.getRandomValues(new Uint8Array(4));
    if (nonce.length !== 4) throw new TypeError("Cannot seal: the nonce must be 4 bytes");
    last4 = new DataView(nonce.buffer, nonce.byteOffset, 4).getUint32(0);
  }
  const trailer = new Uint8Array(TRAILER_LENGTH);
  writeUid(trailer, 0, key.uid);
  trailer.set(key.encryptBlock(encodeBlock(body, key.context, flags, last4)), UID_LENGTH);
  key.writeTag(trailer, 0, reply ? options.requestTag : undefined);
  return trailer;
}

/**
 * The 16-byte tag of a trailer (a copy), e.g. to pass as the request tag when opening its reply.
 *
 * @example
 * ```ts
 * import { tagOf } from "./seal.ts";
 * if (tagOf(new Uint8Array(37).fill(3)).length !== 16) throw new Error("unexpected");
 * ```
 */
export function tagOf(trailer: Uint8Array, offset = 0): Uint8Array {
  const start = offset + TRAILER_LENGTH - TAG_LENGTH;
  return trailer.slice(start, start + TAG_LENGTH);
}
