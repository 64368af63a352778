import { deepStrictEqual, equal } from "node:assert/strict";
import {
  deriveBindingKey,
  deriveMessageKey,
  deriveServerKey,
} from "../../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../../lib/protocol/message.ts";
import type { MessageKind } from "../../lib/protocol/message_kind.ts";
import { openTrailer } from "../../lib/protocol/open.ts";
import { sealTrailer, tagOf } from "../../lib/protocol/seal.ts";
import { PROTOCOL_VERSION } from "../../lib/protocol/constants.ts";
import { hex, unhex } from "./helpers.ts";
import {
  referenceBinding,
  referenceBlock,
  referenceSeal,
  referenceServerKey,
} from "./reference.ts";

interface VectorFile {
  protocol_version: number;
  secret: string;
  server_id: string;
  server_key: string;
  other_servers: { server_id: string; server_key: string; knock: string }[];
  uid: number;
  vectors: {
    name: string;
    kind: MessageKind;
    context: number;
    body: MessageBody;
    nonce: string;
    binding_address?: string;
    request?: string;
    plaintext: string;
    trailer: string;
  }[];
  rejects: {
    name: string;
    trailer: string;
    kind: MessageKind;
    context: number;
    now: number;
    max_age: number;
    source?: string;
    expected: string;
  }[];
}

const file: VectorFile = JSON.parse(
  await Deno.readTextFile(new URL("../testdata/vectors.json", import.meta.url)),
);
const userSecret = unhex(file.secret);
/** Every vector is sealed for `file.server_id`: the key schedule starts from its server key. */
const secret = unhex(file.server_key);
const CODES: Record<string, number> = { tcp: 6, udp: 17 };

Deno.test("vectors.json: protocol 2; lib/protocol and the reference derive every server key", () => {
  equal(file.protocol_version, PROTOCOL_VERSION);
  equal(file.protocol_version, 2);
  const servers = [
    { server_id: file.server_id, server_key: file.server_key },
    ...file.other_servers,
  ];
  equal(new Set(servers.map((s) => s.server_key)).size, servers.length, "server keys differ");
  for (const s of servers) {
    equal(hex(deriveServerKey(userSecret, s.server_id)), s.server_key, s.server_id);
    equal(hex(referenceServerKey(userSecret, s.server_id)), s.server_key, s.server_id);
  }
});

Deno.test("vectors.json: the first knock sealed for another server differs and opens only there", () => {
  const v = file.vectors[0]!;
  for (const other of file.other_servers) {
    const theirs = unhex(other.knock);
    const key = unhex(other.server_key);
    equal(
      hex(
        referenceSeal(key, file.uid, v.kind, v.context, unhex(v.plaintext)),
      ),
      other.knock,
      other.server_id,
    );
    equal(other.knock.slice(10) === v.trailer.slice(10), false);
    const at = (k: Uint8Array) =>
      openTrailer(theirs, () => [deriveMessageKey(k, file.uid, v.kind, v.context)], {
        now: v.body.timestamp,
        maxAge: 120,
      });
    equal(at(key).ok, true, `${other.server_id} opens its own knock`);
    const here = at(secret);
    equal(here.ok ? "accepted" : here.reason, "tag", `${file.server_id} refuses it`);
  }
});

Deno.test("vectors.json: lib/protocol seals every vector to the exact 37 bytes", () => {
  for (const v of file.vectors) {
    const key = deriveMessageKey(secret, file.uid, v.kind, v.context);
    const address = v.binding_address?.split(".").map(Number);
    const trailer = sealTrailer(key, v.body, {
      nonce: unhex(v.nonce),
      ...(address
        ? { binding: { key: deriveBindingKey(secret, file.uid), address: new Uint8Array(address) } }
        : {}),
      ...(v.request ? { requestTag: tagOf(unhex(v.request)) } : {}),
    });
    equal(hex(trailer), v.trailer, v.name);
  }
});

Deno.test("vectors.json: an independent node:crypto reference gives the same plaintext and trailer", () => {
  for (const v of file.vectors) {
    const body = v.body;
    const bound = v.binding_address !== undefined;
    const last4 = bound
      ? referenceBinding(
        secret,
        file.uid,
        new Uint8Array(v.binding_address!.split(".").map(Number)),
      )
      : unhex(v.nonce);
    const block = referenceBlock({
      flags: bound ? 1 : 0,
      code: body.kind === "knock" || body.kind === "ack"
        ? (body.protocol === null ? 0 : CODES[body.protocol]!)
        : body.kind === "resync-reply"
        ? (body.status === "ok" ? 0 : 1)
        : 0,
      port: body.kind === "knock" || body.kind === "ack"
        ? body.port
        : body.kind === "resync-reply"
        ? body.graceSeconds
        : 0,
      sequence: body.kind === "knock" || body.kind === "check"
        ? body.next
        : body.kind === "ack"
        ? v.context
        : body.kind === "resync-reply"
        ? body.sequence
        : 0,
      timestamp: body.timestamp,
      last4,
    });
    equal(hex(block), v.plaintext, `${v.name}: plaintext`);
    const request = v.request ? tagOf(unhex(v.request)) : undefined;
    equal(
      hex(referenceSeal(secret, file.uid, v.kind, v.context, block, request)),
      v.trailer,
      v.name,
    );
  }
});

Deno.test("vectors.json: every vector opens to its body", () => {
  for (const v of file.vectors) {
    const key = deriveMessageKey(secret, file.uid, v.kind, v.context);
    const source = v.binding_address
      ? new Uint8Array(v.binding_address.split(".").map(Number))
      : undefined;
    const verdict = openTrailer(unhex(v.trailer), (u) => (u === file.uid ? [key] : undefined), {
      now: v.body.timestamp,
      maxAge: 120,
      ...(source ? { source, bindingKey: deriveBindingKey(secret, file.uid) } : {}),
      ...(v.request ? { requestTag: tagOf(unhex(v.request)) } : {}),
    });
    equal(verdict.ok, true, v.name);
    if (verdict.ok) {
      const { uid: _u, context: _c, bound: _b, tag: _t, ...body } = verdict.message;
      deepStrictEqual(body, v.body, v.name);
    }
  }
});

Deno.test("vectors.json: every bad input gets its expected verdict", () => {
  equal(file.rejects.length >= 10, true);
  for (const r of file.rejects) {
    const key = deriveMessageKey(secret, file.uid, r.kind, r.context);
    const source = r.source ? new Uint8Array(r.source.split(".").map(Number)) : undefined;
    const verdict = openTrailer(unhex(r.trailer), (u) => (u === file.uid ? [key] : undefined), {
      now: r.now,
      maxAge: r.max_age,
      ...(source ? { source, bindingKey: deriveBindingKey(secret, file.uid) } : {}),
    });
    equal(verdict.ok ? "accepted" : verdict.reason, r.expected, r.name);
  }
});
