import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import { deriveBindingKey, type MessageKey } from "../../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../../lib/protocol/message.ts";
import { findKey, openTrailer, openWithKey, type Verdict } from "../../lib/protocol/open.ts";
import { ReplayCache } from "../../lib/protocol/replay_cache.ts";
import { sealTrailer, tagOf } from "../../lib/protocol/seal.ts";
import { key, NOW, SECRET, UID } from "./helpers.ts";

const SEQ = 0x1234_5678;
const NEXT = 0x0badf00d;
const KNOCK: MessageBody = { kind: "knock", protocol: "tcp", port: 22, next: NEXT, timestamp: NOW };
const options = { now: NOW, maxAge: 120 };

function lookupOf(...keys: MessageKey[]) {
  return (uid: number) => uid === UID ? keys : undefined;
}

function reason(verdict: Verdict): string {
  return verdict.ok ? "accepted" : verdict.reason;
}

Deno.test("sealTrailer() then openTrailer() gives back every kind's fields", () => {
  const request = sealTrailer(key("knock", SEQ), KNOCK);
  const requestTag = tagOf(request);
  const cases: [MessageKey, MessageBody][] = [
    [key("knock", SEQ), KNOCK],
    [key("check", SEQ), { kind: "check", next: NEXT, timestamp: NOW }],
    [key("resync", Math.floor(NOW / 60)), { kind: "resync", timestamp: NOW }],
    [key("ack", NEXT), { kind: "ack", protocol: "udp", port: 53, timestamp: NOW }],
    [key("ack", NEXT), { kind: "ack", protocol: null, port: 0, timestamp: NOW }],
    [key("resync-reply", 5), {
      kind: "resync-reply",
      status: "ok",
      sequence: 77,
      graceSeconds: 600,
      timestamp: NOW,
    }],
    [key("resync-reply", 5), {
      kind: "resync-reply",
      status: "clock-skew",
      sequence: 0,
      graceSeconds: 0,
      timestamp: NOW,
    }],
  ];
  for (const [k, body] of cases) {
    const trailer = sealTrailer(k, body, { requestTag });
    equal(trailer.length, 37);
    const verdict = openTrailer(trailer, lookupOf(k), { ...options, requestTag });
    ok(verdict.ok, `${body.kind}: ${reason(verdict)}`);
    const { uid, context, bound, tag, ...fields } = verdict.message;
    deepStrictEqual(fields, body);
    equal(uid, UID);
    equal(context, k.context);
    equal(bound, false);
    deepStrictEqual(tag, tagOf(trailer));
  }
});

Deno.test("openTrailer() round-trips any knock (property)", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.integer({ min: 0, max: 2 ** 40 - 1 }),
      fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      fc.constantFrom("tcp" as const, "udp" as const),
      fc.integer({ min: 1, max: 65535 }),
      fc.integer({ min: -120, max: 120 }),
      (secret, uid, seq, next, protocol, port, skew) => {
        fc.pre(seq !== next);
        const k = key("knock", seq, secret, uid);
        const body: MessageBody = { kind: "knock", protocol, port, next, timestamp: NOW + skew };
        const trailer = sealTrailer(k, body);
        const verdict = openTrailer(trailer, (u) => u === uid ? [k] : undefined, options);
        ok(verdict.ok);
        equal(verdict.message.kind, "knock");
        deepStrictEqual({ ...verdict.message, uid: 0, context: 0, tag: 0, bound: 0 }, {
          ...body,
          uid: 0,
          context: 0,
          tag: 0,
          bound: 0,
        });
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("every one of the 296 single-bit flips of a valid trailer is refused", () => {
  const k = key("knock", SEQ);
  const trailer = sealTrailer(k, KNOCK);
  const other = key("knock", SEQ, SECRET, UID ^ 1);
  const lookup = (uid: number) => uid === UID ? [k] : uid === (UID ^ 1) ? [other] : undefined;
  const reasons = new Map<string, number>();
  for (let bit = 0; bit < 37 * 8; bit++) {
    const copy = trailer.slice();
    copy[bit >> 3]! ^= 1 << (7 - (bit & 7));
    const verdict = openTrailer(copy, lookup, options);
    ok(!verdict.ok, `flip of bit ${bit} was accepted`);
    reasons.set(verdict.reason, (reasons.get(verdict.reason) ?? 0) + 1);
  }
  // Flips in the UID give an unknown user or another user's key; all others fail the tag.
  equal([...reasons.values()].reduce((a, b) => a + b), 296);
  equal(reasons.get("tag"), 296 - (reasons.get("unknown-uid") ?? 0));
  equal(reasons.get("unknown-uid"), 39);
});

Deno.test("openTrailer() refuses each kind of bad input with its own reason", async (t) => {
  const k = key("knock", SEQ);
  const trailer = sealTrailer(k, KNOCK);

  await t.step("truncated and over-long input: length", () => {
    equal(reason(openTrailer(trailer.subarray(0, 36), lookupOf(k), options)), "length");
    equal(reason(openTrailer(new Uint8Array([...trailer, 0]), lookupOf(k), options)), "length");
    equal(reason(openTrailer(new Uint8Array(0), lookupOf(k), options)), "length");
  });
  await t.step("unknown user: unknown-uid", () => {
    equal(reason(openTrailer(trailer, () => undefined, options)), "unknown-uid");
  });
  await t.step("wrong sequence number: tag", () => {
    equal(reason(openTrailer(trailer, lookupOf(key("knock", SEQ + 1)), options)), "tag");
  });
  await t.step("wrong secret: tag", () => {
    const wrong = key("knock", SEQ, new Uint8Array(32).fill(1));
    equal(reason(openTrailer(trailer, lookupOf(wrong), options)), "tag");
  });
  await t.step("an ack replayed as a knock: tag (the keys differ by kind and direction)", () => {
    const ack = sealTrailer(key("ack", SEQ), {
      kind: "ack",
      protocol: "tcp",
      port: 22,
      timestamp: NOW,
    }, {
      requestTag: tagOf(trailer),
    });
    equal(reason(openTrailer(ack, lookupOf(key("knock", SEQ), key("check", SEQ)), options)), "tag");
    // ...and it is a good ack under the ack key, so the refusal is the kind separation at work.
    ok(openTrailer(ack, lookupOf(key("ack", SEQ)), { ...options, requestTag: tagOf(trailer) }).ok);
  });
  await t.step("a knock replayed as an ack: tag", () => {
    equal(
      reason(
        openTrailer(trailer, lookupOf(key("ack", SEQ)), { ...options, requestTag: tagOf(trailer) }),
      ),
      "tag",
    );
  });
  await t.step("a knock replayed as a check, a check as a knock: tag", () => {
    equal(reason(openTrailer(trailer, lookupOf(key("check", SEQ)), options)), "tag");
    const check = sealTrailer(key("check", SEQ), { kind: "check", next: NEXT, timestamp: NOW });
    equal(reason(openTrailer(check, lookupOf(key("knock", SEQ)), options)), "tag");
  });
  await t.step("an ack answering another request: tag", () => {
    const ack = sealTrailer(key("ack", NEXT), {
      kind: "ack",
      protocol: "tcp",
      port: 22,
      timestamp: NOW,
    }, {
      requestTag: new Uint8Array(16),
    });
    equal(
      reason(
        openTrailer(ack, lookupOf(key("ack", NEXT)), { ...options, requestTag: tagOf(trailer) }),
      ),
      "tag",
    );
  });
  await t.step("stale and future timestamps: stale, future (authentic message attached)", () => {
    const old = sealTrailer(k, { ...KNOCK, timestamp: NOW - 121 });
    const verdict = openTrailer(old, lookupOf(k), options);
    equal(reason(verdict), "stale");
    ok(!verdict.ok && verdict.message?.kind === "knock");
    equal(
      reason(openTrailer(sealTrailer(k, { ...KNOCK, timestamp: NOW + 121 }), lookupOf(k), options)),
      "future",
    );
    ok(openTrailer(sealTrailer(k, { ...KNOCK, timestamp: NOW - 120 }), lookupOf(k), options).ok);
    ok(openTrailer(sealTrailer(k, { ...KNOCK, timestamp: NOW + 120 }), lookupOf(k), options).ok);
  });
  await t.step("replayed packet: replay", () => {
    const replay = new ReplayCache();
    ok(openTrailer(trailer, lookupOf(k), { ...options, replay }).ok);
    equal(reason(openTrailer(trailer, lookupOf(k), { ...options, replay })), "replay");
    equal(
      reason(openTrailer(trailer, lookupOf(k), { ...options, now: NOW + 100, replay })),
      "replay",
    );
  });
  await t.step("a full replay cache refuses rather than forgets", () => {
    const replay = new ReplayCache(1);
    ok(openTrailer(trailer, lookupOf(k), { ...options, replay }).ok);
    const second = sealTrailer(k, { ...KNOCK, next: NEXT + 1 });
    equal(reason(openTrailer(second, lookupOf(k), { ...options, replay })), "replay-cache-full");
  });
  await t.step("bad fields inside an authentic block: fields", () => {
    equal(
      reason(openTrailer(sealTrailer(k, { ...KNOCK, next: SEQ }), lookupOf(k), options)),
      "fields",
    );
    equal(
      reason(openTrailer(sealTrailer(k, { ...KNOCK, port: 0 }), lookupOf(k), options)),
      "fields",
    );
    const minute = Math.floor(NOW / 60);
    const resync = sealTrailer(key("resync", minute), { kind: "resync", timestamp: NOW + 600 });
    equal(reason(openTrailer(resync, lookupOf(key("resync", minute)), options)), "fields");
  });
});

Deno.test("a knock bound to its source is refused from any other address, and burned", () => {
  const k = key("knock", SEQ);
  const bindingKey = deriveBindingKey(SECRET, UID);
  const client = new Uint8Array([10, 77, 0, 2]);
  const attacker = new Uint8Array([10, 77, 0, 3]);
  const trailer = sealTrailer(k, KNOCK, { binding: { key: bindingKey, address: client } });
  const replay = new ReplayCache();
  const from = (source: Uint8Array) =>
    openTrailer(trailer, lookupOf(k), { ...options, source, bindingKey, replay });
  const v6 = from(new Uint8Array(16));
  equal(reason(v6), "binding");
  ok(!v6.ok && v6.message?.bound === true);
  // The attacker's try burned the packet: the client's own copy now counts as a replay.
  equal(reason(from(attacker)), "binding");
  equal(reason(from(client)), "replay");
  // A fresh cache accepts it from the client.
  ok(openTrailer(trailer, lookupOf(k), { ...options, source: client, bindingKey }).ok);
  // Without the observed source or key, a bound knock cannot be checked: refused.
  equal(reason(openTrailer(trailer, lookupOf(k), options)), "binding");
});

Deno.test("findKey() tries keys in order and allocates no verdict", () => {
  const keys = [key("knock", 1), key("check", 1), key("knock", 2)];
  const trailer = sealTrailer(keys[2]!, { ...KNOCK, next: 3 });
  equal(findKey(trailer, 0, keys), keys[2]);
  equal(findKey(trailer, 0, keys.slice(0, 2)), undefined);
  // The trailer may sit at any offset inside a larger payload.
  const payload = new Uint8Array(100);
  payload.set(trailer, 63);
  equal(findKey(payload, 63, keys), keys[2]);
  ok(openWithKey(payload, 63, keys[2]!, options).ok);
});

Deno.test("sealTrailer() refuses misuse", () => {
  throws(() => sealTrailer(key("ack", 1), KNOCK), TypeError);
  throws(
    () => sealTrailer(key("ack", 1), { kind: "ack", protocol: "tcp", port: 1, timestamp: 0 }),
    TypeError,
  );
  throws(
    () =>
      sealTrailer(key("check", 1), { kind: "check", next: 2, timestamp: 0 }, {
        binding: { key: deriveBindingKey(SECRET, UID), address: new Uint8Array(4) },
      }),
    TypeError,
  );
});

Deno.test("two knocks under one sequence number share no ciphertext block", () => {
  // The block holds a fresh nonce and the next number, so the cipher sees different inputs.
  const k = key("knock", SEQ);
  const a = sealTrailer(k, KNOCK);
  const b = sealTrailer(k, { ...KNOCK, next: NEXT + 1 });
  const c = sealTrailer(k, KNOCK);
  ok(!a.subarray(5, 21).every((v, i) => v === b[5 + i]));
  ok(!a.subarray(5, 21).every((v, i) => v === c[5 + i]));
  const replay = new ReplayCache();
  for (const t of [a, b, c]) ok(openTrailer(t, lookupOf(k), { ...options, replay }).ok);
});
