/**
 * Writes tests/testdata/vectors.json: fixed inputs → exact trailers, and the verdicts expected for
 * bad inputs. Run `deno run -A scripts/make_vectors.ts` after a deliberate protocol change (which
 * is a new protocol version); the vector test checks the file against lib/protocol and against an
 * independent reference implementation.
 */

import {
  deriveBindingKey,
  deriveMessageKey,
  deriveServerKey,
} from "../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../lib/protocol/message.ts";
import type { MessageKind } from "../lib/protocol/message_kind.ts";
import { openTrailer } from "../lib/protocol/open.ts";
import { sealTrailer, tagOf } from "../lib/protocol/seal.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
/** The user's secret (the client's key file). */
const userSecret = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const serverId = "web1";
const otherServerIds = ["web2", "db.example.org"];
/** Every message below is sealed for server `web1`: under its server key. */
const secret = deriveServerKey(userSecret, serverId);
const uid = 1000;
const now = 1_800_000_000;
const sequence = 0x1d2c3b4a;
const next = 0x5e6f7081;
const minute = Math.floor(now / 60);
const nonce = new Uint8Array([0xa1, 0xb2, 0xc3, 0xd4]);
const client = new Uint8Array([10, 77, 0, 2]);

interface Vector {
  name: string;
  kind: MessageKind;
  context: number;
  body: MessageBody;
  binding_address?: string;
  request?: string;
}

const knockBody: MessageBody = { kind: "knock", protocol: "tcp", port: 22, next, timestamp: now };
const knock = sealTrailer(deriveMessageKey(secret, uid, "knock", sequence), knockBody, { nonce });
const resync = sealTrailer(deriveMessageKey(secret, uid, "resync", minute), {
  kind: "resync",
  timestamp: now,
}, { nonce });

const vectors: Vector[] = [
  { name: "knock tcp/22", kind: "knock", context: sequence, body: knockBody },
  {
    name: "knock udp/53",
    kind: "knock",
    context: sequence,
    body: { ...knockBody, protocol: "udp", port: 53 },
  },
  {
    name: "knock tcp/22 bound to 10.77.0.2",
    kind: "knock",
    context: sequence,
    body: knockBody,
    binding_address: "10.77.0.2",
  },
  {
    name: "check",
    kind: "check",
    context: sequence,
    body: { kind: "check", next, timestamp: now },
  },
  {
    name: "ack of the knock",
    kind: "ack",
    context: next,
    body: { kind: "ack", protocol: "tcp", port: 22, timestamp: now },
    request: hex(knock),
  },
  { name: "resync", kind: "resync", context: minute, body: { kind: "resync", timestamp: now } },
  {
    name: "resync-reply ok",
    kind: "resync-reply",
    context: minute,
    body: {
      kind: "resync-reply",
      status: "ok",
      sequence: 0x0a0b0c0d,
      graceSeconds: 600,
      timestamp: now,
    },
    request: hex(resync),
  },
  {
    name: "resync-reply clock-skew",
    kind: "resync-reply",
    context: minute,
    body: {
      kind: "resync-reply",
      status: "clock-skew",
      sequence: 0,
      graceSeconds: 0,
      timestamp: now,
    },
    request: hex(resync),
  },
];

const out = vectors.map((v) => {
  const key = deriveMessageKey(secret, uid, v.kind, v.context);
  const requestTag = v.request
    ? tagOf(Uint8Array.from(v.request.match(/../g)!.map((h) => parseInt(h, 16))))
    : undefined;
  const trailer = sealTrailer(key, v.body, {
    nonce,
    ...(v.binding_address
      ? { binding: { key: deriveBindingKey(secret, uid), address: client } }
      : {}),
    ...(requestTag ? { requestTag } : {}),
  });
  return {
    ...v,
    uid,
    nonce: hex(nonce),
    plaintext: hex(key.decryptBlock(trailer.subarray(5, 21))),
    trailer: hex(trailer),
  };
});

const lookupFor = (kind: MessageKind, context: number) => (u: number) =>
  u === uid ? [deriveMessageKey(secret, uid, kind, context)] : undefined;
const flip = (bytes: Uint8Array, index: number) => {
  const copy = bytes.slice();
  copy[index]! ^= 0x01;
  return copy;
};
const bound = Uint8Array.from(out[2]!.trailer.match(/../g)!.map((h) => parseInt(h, 16)));
const otherServers = otherServerIds.map((id) => {
  const key = deriveServerKey(userSecret, id);
  return {
    server_id: id,
    server_key: hex(key),
    knock: sealTrailer(deriveMessageKey(key, uid, "knock", sequence), knockBody, { nonce }),
  };
});
const rejects = [
  {
    name: "the same knock sealed for server web2",
    trailer: otherServers[0]!.knock,
    expected: "tag",
  },
  { name: "ciphertext bit flipped", trailer: flip(knock, 10), expected: "tag" },
  { name: "tag bit flipped", trailer: flip(knock, 30), expected: "tag" },
  { name: "uid changed", trailer: flip(knock, 4), expected: "unknown-uid" },
  { name: "truncated to 36 bytes", trailer: knock.subarray(0, 36), expected: "length" },
  { name: "over-long (38 bytes)", trailer: new Uint8Array([...knock, 0]), expected: "length" },
  { name: "wrong sequence number", trailer: knock, context: sequence + 1, expected: "tag" },
  { name: "a knock opened as a check", trailer: knock, kind: "check" as const, expected: "tag" },
  { name: "stale (now + 121 s)", trailer: knock, now: now + 121, expected: "stale" },
  { name: "future (now - 121 s)", trailer: knock, now: now - 121, expected: "future" },
  { name: "bound knock from 10.77.0.3", trailer: bound, source: "10.77.0.3", expected: "binding" },
].map((r) => {
  const kind = r.kind ?? "knock";
  const context = r.context ?? sequence;
  const at = r.now ?? now;
  const source = r.source ? new Uint8Array(r.source.split(".").map(Number)) : undefined;
  const verdict = openTrailer(r.trailer, lookupFor(kind, context), {
    now: at,
    maxAge: 120,
    ...(source ? { source, bindingKey: deriveBindingKey(secret, uid) } : {}),
  });
  const got = verdict.ok ? "accepted" : verdict.reason;
  if (got !== r.expected) throw new Error(`vector ${r.name}: expected ${r.expected}, got ${got}`);
  return {
    name: r.name,
    trailer: hex(r.trailer),
    kind,
    context,
    now: at,
    max_age: 120,
    ...(r.source ? { source: r.source } : {}),
    expected: r.expected,
  };
});

const file = {
  description: "spa protocol 2 test vectors: see PROTOCOL.md. All integers are decimal; bytes " +
    "are hex. `secret` is the user's secret; every vector is sealed for server `server_id`, " +
    "under `server_key`; `other_servers` gives the server keys of other ids and the knock of the " +
    "first vector sealed for each.",
  protocol_version: 2,
  secret: hex(userSecret),
  server_id: serverId,
  server_key: hex(secret),
  other_servers: otherServers.map((o) => ({ ...o, knock: hex(o.knock) })),
  uid,
  now,
  vectors: out,
  rejects,
};
await Deno.writeTextFile(
  new URL("../tests/testdata/vectors.json", import.meta.url),
  JSON.stringify(file, null, 2) + "\n",
);
console.log(`wrote ${out.length} vectors and ${rejects.length} rejects`);
