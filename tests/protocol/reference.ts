/**
 * An independent, deliberately plain implementation of the trailer construction in PROTOCOL.md,
 * written only with node:crypto primitives (HKDF, AES-256-ECB, HMAC-SHA256). The vector test checks
 * that lib/protocol and this reference agree byte for byte, so the vectors are not just our own
 * output read back.
 */

import { createCipheriv, createHmac, hkdfSync } from "node:crypto";

const KIND_CODES: Record<string, number> = {
  knock: 1,
  ack: 2,
  resync: 3,
  "resync-reply": 4,
  check: 5,
};
const DIRECTION_CODES: Record<string, number> = {
  knock: 1,
  check: 1,
  resync: 1,
  ack: 2,
  "resync-reply": 2,
};

function uid5(uid: number): Buffer {
  const b = Buffer.alloc(5);
  b.writeUIntBE(uid, 0, 5);
  return b;
}

const SALT = "spa/2 key schedule";

/** The server key: HKDF-SHA256(secret, "spa/2 server key" || len(id) || id), 32 bytes. */
export function referenceServerKey(secret: Uint8Array, serverId: string): Buffer {
  const id = Buffer.from(serverId, "ascii");
  const info = Buffer.concat([Buffer.from("spa/2 server key"), Buffer.from([id.length]), id]);
  return Buffer.from(hkdfSync("sha256", secret, SALT, info, 64)).subarray(0, 32);
}

/** HKDF-SHA256 of a server key → [AES key, HMAC key] for one message kind and context. */
export function referenceKeys(
  secret: Uint8Array,
  uid: number,
  kind: string,
  context: number,
): [Buffer, Buffer] {
  const ctx = Buffer.alloc(8);
  ctx.writeBigUInt64BE(BigInt(context));
  const info = Buffer.concat([
    Buffer.from("spa/2 message"),
    Buffer.from([KIND_CODES[kind]!, DIRECTION_CODES[kind]!]),
    uid5(uid),
    ctx,
  ]);
  const okm = Buffer.from(hkdfSync("sha256", secret, SALT, info, 64));
  return [okm.subarray(0, 32), okm.subarray(32, 64)];
}

/** The 4-byte binding digest of an address. */
export function referenceBinding(secret: Uint8Array, uid: number, address: Uint8Array): Buffer {
  const key = Buffer.from(
    hkdfSync(
      "sha256",
      secret,
      SALT,
      Buffer.concat([Buffer.from("spa/2 binding"), uid5(uid)]),
      64,
    ),
  );
  return createHmac("sha256", key.subarray(0, 32))
    .update(Buffer.from([address.length === 4 ? 4 : 6]))
    .update(address)
    .digest()
    .subarray(0, 4);
}

/** Seals a plaintext block: uid || AES(block) || HMAC(uid || C [|| requestTag])[0..16]. */
export function referenceSeal(
  secret: Uint8Array,
  uid: number,
  kind: string,
  context: number,
  plaintext: Uint8Array,
  requestTag?: Uint8Array,
): Buffer {
  const [encKey, macKey] = referenceKeys(secret, uid, kind, context);
  const cipher = createCipheriv("aes-256-ecb", encKey, null).setAutoPadding(false);
  const c = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const mac = createHmac("sha256", macKey).update(uid5(uid)).update(c);
  if (requestTag) mac.update(requestTag);
  return Buffer.concat([uid5(uid), c, mac.digest().subarray(0, 16)]);
}

/** The plaintext block of PROTOCOL.md, field by field. */
export function referenceBlock(fields: {
  flags: number;
  code: number;
  port: number;
  sequence: number;
  timestamp: number;
  last4: Uint8Array;
}): Buffer {
  const b = Buffer.alloc(16);
  b[0] = (2 << 4) | fields.flags;
  b[1] = fields.code;
  b.writeUInt16BE(fields.port, 2);
  b.writeUInt32BE(fields.sequence, 4);
  b.writeUInt32BE(fields.timestamp, 8);
  Buffer.from(fields.last4).copy(b, 12);
  return b;
}
