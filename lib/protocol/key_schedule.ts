/**
 * The key schedule (protocol 2): every message is sealed under keys of its own, for one server.
 *
 * First the **server key**: `Kserver = HKDF-SHA256(ikm = the user's secret, salt = "spa/2 key
 * schedule", info = "spa/2 server key" || len(server_id) || server_id, 32 bytes)`
 * ({@linkcode deriveServerKey}). A client holds the user's secret and derives the key of each
 * server it knocks on; a server holds its own `Kserver` (a provisioned key file) or the user's
 * secret (and derives its own). Every other key is derived from `Kserver`, so a packet sealed for
 * one server verifies at no other, and a server's key does not give the keys of the others.
 *
 * Then `HKDF-SHA256(ikm = Kserver, salt = "spa/2 key schedule", info, 64 bytes)` where `info` is
 * `"spa/2 message" || kind code || direction code || uid (5 bytes) || context (8 bytes, big-endian)`
 * and the context is the sequence number the message is keyed by (knock, check: the client's
 * current number; ack: the new number) or the UTC minute (resync, resync-reply). The first 32 bytes
 * are the AES-256 key, the last 32 the HMAC-SHA256 key. Server, kind, direction, user and context
 * all enter the derivation, so no key serves two purposes: an ack can never verify as a knock, a
 * knock for one server never at another.
 *
 * @module
 */

import { encodeHex } from "./hex.ts";
import { Aes256 } from "./aes256.ts";
import { BLOCK_LENGTH, HKDF_SALT, SECRET_LENGTH, TAG_LENGTH, UID_LENGTH } from "./constants.ts";
import { hkdfSha256 } from "./hkdf.ts";
import { HmacSha256 } from "./hmac_sha256.ts";
import { directionCode, directionOf, isReply, kindCode, type MessageKind } from "./message_kind.ts";
import { encodeServerId } from "./server_id.ts";
import { isValidUid, writeUid } from "./uid.ts";

const encoder = new TextEncoder();
const SERVER_KEY_LABEL = encoder.encode("spa/2 server key");
const MESSAGE_LABEL = encoder.encode("spa/2 message");
const BINDING_LABEL = encoder.encode("spa/2 binding");
const FINGERPRINT_LABEL = encoder.encode("spa/2 fingerprint");
const SALT = encoder.encode(HKDF_SALT);

/**
 * The keys of one message kind for one user under one context (sequence number or minute).
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * const key = deriveMessageKey(new Uint8Array(32), 1000, "knock", 42);
 * if (key.kind !== "knock" || key.context !== 42) throw new Error("unexpected");
 * ```
 */
export class MessageKey {
  /** The user the key belongs to. */
  readonly uid: number;
  /** The kind of message the key seals. */
  readonly kind: MessageKind;
  /** The sequence number or UTC minute the key is bound to. */
  readonly context: number;
  readonly #cipher: Aes256;
  readonly #mac: HmacSha256;

  /** @internal Use {@linkcode deriveMessageKey}. */
  constructor(uid: number, kind: MessageKind, context: number, okm: Uint8Array) {
    this.uid = uid;
    this.kind = kind;
    this.context = context;
    this.#cipher = new Aes256(okm.subarray(0, 32));
    this.#mac = new HmacSha256(okm.subarray(32, 64));
    okm.fill(0);
  }

  /**
   * Whether the tag of the trailer at `offset` is right under this key. Reads 37 bytes from
   * `offset`; allocates nothing. `requestTag` must be given for replies (ack, resync-reply).
   */
  verifyTag(trailer: Uint8Array, offset: number, requestTag?: Uint8Array): boolean {
    return this.#mac.verify128(
      trailer,
      offset,
      UID_LENGTH + BLOCK_LENGTH,
      isReply(this.kind) ? requestTag : undefined,
      trailer,
      offset + UID_LENGTH + BLOCK_LENGTH,
    );
  }

  /** Writes the tag over `trailer[offset, offset + 21)` (and `requestTag`) at `offset + 21`. */
  writeTag(trailer: Uint8Array, offset: number, requestTag?: Uint8Array): void {
    const digest = new Uint8Array(32);
    this.#mac.digestInto(
      trailer,
      offset,
      UID_LENGTH + BLOCK_LENGTH,
      isReply(this.kind) ? requestTag : undefined,
      digest,
    );
    trailer.set(digest.subarray(0, TAG_LENGTH), offset + UID_LENGTH + BLOCK_LENGTH);
  }

  /** Encrypts one 16-byte block with AES-256 (a pseudorandom permutation, no mode, no IV). */
  encryptBlock(plain: Uint8Array): Uint8Array {
    return this.#cipher.encryptBlock(plain);
  }

  /** Decrypts one 16-byte block with AES-256. */
  decryptBlock(sealed: Uint8Array): Uint8Array {
    return this.#cipher.decryptBlock(sealed);
  }

  /** Overwrites the key material (best effort: JavaScript may keep copies). */
  destroy(): void {
    this.#cipher.destroy();
    this.#mac.destroy();
  }

  /** Keys never print. */
  [Symbol.for("Deno.customInspect")](): string {
    return `MessageKey { uid: ${this.uid}, kind: ${this.kind}, context: ${this.context} }`;
  }
}

/**
 * The key of one server for one user: `HKDF(secret, info = "spa/2 server key" || len || id)`, 32
 * bytes. Every message, binding and fingerprint key of that server is derived from it (the
 * `secret` argument of {@linkcode deriveMessageKey} and the others is this key). It is one-way: a
 * server that holds only its own key learns nothing of the user's secret or of other servers'
 * keys, so one compromised server cannot knock on the others as that user.
 *
 * @param secret The user's 32-byte secret (the client's key file).
 * @param serverId The server's id (see `server_id.ts`).
 * @throws {RangeError} When the secret is not 32 bytes or the id is not a server id.
 *
 * @example
 * ```ts
 * import { deriveServerKey } from "./key_schedule.ts";
 * const secret = new Uint8Array(32);
 * const web1 = deriveServerKey(secret, "web1");
 * const web2 = deriveServerKey(secret, "web2");
 * if (web1.length !== 32 || web1.every((b, i) => b === web2[i])) throw new Error("unexpected");
 * ```
 */
export function deriveServerKey(secret: Uint8Array, serverId: string): Uint8Array {
  checkSecret(secret);
  const id = encodeServerId(serverId);
  const info = new Uint8Array(SERVER_KEY_LABEL.length + id.length);
  info.set(SERVER_KEY_LABEL);
  info.set(id, SERVER_KEY_LABEL.length);
  const okm = hkdf(secret, info);
  const key = okm.slice(0, 32);
  okm.fill(0);
  return key;
}

/**
 * Derives the keys of `kind` for user `uid` under `context`.
 *
 * @param secret The server key ({@linkcode deriveServerKey}) of the server the message is for.
 * @param uid The user id.
 * @param kind The message kind.
 * @param context The sequence number or UTC minute, an integer in 0..2^53-1.
 * @throws {RangeError} When an argument is out of range.
 *
 * @example
 * ```ts
 * import { deriveMessageKey } from "./key_schedule.ts";
 * const secret = crypto.getRandomValues(new Uint8Array(32));
 * const knock = deriveMessageKey(secret, 1000, "knock", 7);
 * const ack = deriveMessageKey(secret, 1000, "ack", 7);
 * if (knock === ack) throw new Error("keys must differ");
 * ```
 */
export function deriveMessageKey(
  secret: Uint8Array,
  uid: number,
  kind: MessageKind,
  context: number,
): MessageKey {
  checkInputs(secret, uid);
  if (!Number.isSafeInteger(context) || context < 0) {
    throw new RangeError(`Cannot derive key: context ${context} is not a non-negative integer`);
  }
  const info = new Uint8Array(MESSAGE_LABEL.length + 2 + UID_LENGTH + 8);
  info.set(MESSAGE_LABEL);
  let o = MESSAGE_LABEL.length;
  info[o++] = kindCode(kind);
  info[o++] = directionCode(directionOf(kind));
  writeUid(info, o, uid);
  o += UID_LENGTH;
  new DataView(info.buffer).setBigUint64(o, BigInt(context));
  return new MessageKey(uid, kind, context, hkdf(secret, info));
}

/**
 * A user's key for source-address binding digests.
 *
 * A bound knock carries, in place of its random nonce, the first 4 bytes of
 * `HMAC-SHA256(bindingKey, family || address)` of the address the client expects the server to
 * see. The digest is inside the authenticated block, and a packet whose digest does not match its
 * observed source is burned (remembered as used), so an attacker who replays it from his own
 * address gets exactly one 2^-32 chance per captured knock.
 *
 * @example
 * ```ts
 * import { deriveBindingKey } from "./key_schedule.ts";
 * const key = deriveBindingKey(new Uint8Array(32), 1000);
 * const a = key.digest(new Uint8Array([10, 77, 0, 2]));
 * const b = key.digest(new Uint8Array([10, 77, 0, 3]));
 * if (a === b) throw new Error("digests should differ");
 * ```
 */
export class BindingKey {
  readonly #mac: HmacSha256;
  readonly #out = new Uint8Array(32);
  readonly #input = new Uint8Array(17);

  /** @internal Use {@linkcode deriveBindingKey}. */
  constructor(okm: Uint8Array) {
    this.#mac = new HmacSha256(okm.subarray(0, 32));
    okm.fill(0);
  }

  /** The 32-bit digest of an IPv4 (4 bytes) or IPv6 (16 bytes) address. */
  digest(address: Uint8Array): number {
    if (address.length !== 4 && address.length !== 16) {
      throw new TypeError(`Cannot bind address: expected 4 or 16 bytes, got ${address.length}`);
    }
    this.#input[0] = address.length === 4 ? 4 : 6;
    this.#input.set(address, 1);
    this.#mac.digestInto(this.#input, 0, 1 + address.length, undefined, this.#out);
    return ((this.#out[0]! << 24) | (this.#out[1]! << 16) | (this.#out[2]! << 8) |
      this.#out[3]!) >>>
      0;
  }

  /** Keys never print. */
  [Symbol.for("Deno.customInspect")](): string {
    return "BindingKey {}";
  }
}

/**
 * Derives a user's binding key from a server key: HKDF with info `"spa/2 binding" || uid`.
 *
 * @example
 * ```ts
 * import { deriveBindingKey } from "./key_schedule.ts";
 * const digest = deriveBindingKey(new Uint8Array(32), 1).digest(new Uint8Array(16));
 * if (digest < 0 || digest > 0xffffffff) throw new Error("not a u32");
 * ```
 */
export function deriveBindingKey(secret: Uint8Array, uid: number): BindingKey {
  checkInputs(secret, uid);
  return new BindingKey(hkdf(secret, labelledInfo(BINDING_LABEL, uid)));
}

function labelledInfo(label: Uint8Array, uid: number): Uint8Array {
  const info = new Uint8Array(label.length + UID_LENGTH);
  info.set(label);
  writeUid(info, label.length, uid);
  return info;
}

function hkdf(secret: Uint8Array, info: Uint8Array): Uint8Array {
  return hkdfSha256(secret, SALT, info, 64);
}

function checkInputs(secret: Uint8Array, uid: number): void {
  checkSecret(secret);
  if (!isValidUid(uid)) throw new RangeError(`Cannot derive key: uid ${uid} is out of range`);
}

function checkSecret(secret: Uint8Array): void {
  if (secret.length !== SECRET_LENGTH) {
    throw new RangeError(`Cannot derive key: the secret must be ${SECRET_LENGTH} bytes`);
  }
}

/**
 * A short public identifier of a server key (16 hex digits): HKDF with info
 * `"spa/2 fingerprint" || uid`. Both sides compute it over the server key, so a client and a server
 * that disagree on the server id (or the secret) print different fingerprints.
 * State files record it so a regenerated key resets the stored sequence state instead of silently
 * keeping numbers that belong to the old key. It reveals nothing usable about the secret.
 *
 * @example
 * ```ts
 * import { keyFingerprint } from "./key_schedule.ts";
 * if (!/^[0-9a-f]{16}$/.test(keyFingerprint(new Uint8Array(32), 1))) throw new Error("unexpected");
 * ```
 */
export function keyFingerprint(secret: Uint8Array, uid: number): string {
  checkInputs(secret, uid);
  const okm = hkdf(secret, labelledInfo(FINGERPRINT_LABEL, uid));
  return encodeHex(okm.subarray(0, 8));
}
