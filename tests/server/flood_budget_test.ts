/**
 * The verifier under forged-UID floods, without root: packets carrying the user's UID and random
 * sealed bytes, from one other address, from thousands of addresses, and from the client's own
 * address (another port), take nothing from the user's resync, knock or check; only the clock-skew
 * probe is rationed, per source and in total.
 */

import { equal } from "node:assert/strict";
import { LINKTYPE_RAW } from "../../lib/packet/constants.ts";
import { decodeFrame } from "../../lib/packet/decode.ts";
import { encodeUdpPacket } from "../../lib/packet/encode.ts";
import { PacketView } from "../../lib/packet/view.ts";
import { deriveMessageKey } from "../../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../../lib/protocol/message.ts";
import { minuteOf } from "../../lib/protocol/random.ts";
import { sealTrailer } from "../../lib/protocol/seal.ts";
import { encodeUid } from "../../lib/protocol/uid.ts";
import { Counters } from "../../lib/server/counters.ts";
import { ProbeBudget } from "../../lib/server/probe_budget.ts";
import { SourceRateLimit } from "../../lib/server/rate_limit.ts";
import { type VerifyContext, verifyPacket } from "../../lib/server/verifier.ts";
import { testUser } from "./_test_user.ts";

const KEY = new Uint8Array(32).fill(5);
const UID = 1000;
const CLIENT = new Uint8Array([10, 77, 0, 2]);
const SERVER = new Uint8Array([10, 77, 0, 1]);
const NOW = Date.parse("2026-11-27T12:00:30Z");
const SEQUENCE = 100;

function setup(underLoad = false) {
  const user = testUser(UID, KEY, SEQUENCE);
  const ctx: VerifyContext = {
    users: new Map([[UID, user]]),
    limit: new SourceRateLimit({ failedPerSecond: 10, failedBurst: 20 }),
    probe: new ProbeBudget(ProbeBudget.defaults, NOW),
    counters: new Counters(),
    maxAgeSeconds: 120,
    underLoad,
  };
  const view = new PacketView();
  const verify = (trailer: Uint8Array, source: Uint8Array, port = 40000, at = NOW) => {
    const frame = encodeUdpPacket({
      source,
      destination: SERVER,
      sourcePort: port,
      destinationPort: 22,
      payload: trailer,
    });
    equal(decodeFrame(LINKTYPE_RAW, frame, frame.length, view), "ok");
    return verifyPacket(ctx, frame, view, at);
  };
  return { ctx, verify };
}

function forged(): Uint8Array {
  const trailer = crypto.getRandomValues(new Uint8Array(37));
  trailer.set(encodeUid(UID));
  return trailer;
}

function seal(kind: MessageBody["kind"], context: number, body: MessageBody): Uint8Array {
  return sealTrailer(deriveMessageKey(KEY, UID, kind, context), body);
}

const t = (ms: number) => Math.floor(ms / 1000);
const resync = (at = NOW) => seal("resync", minuteOf(t(at)), { kind: "resync", timestamp: t(at) });
const knock = () =>
  seal("knock", SEQUENCE, { kind: "knock", protocol: "tcp", port: 22, next: 7, timestamp: t(NOW) });

const floods: [string, (i: number) => [Uint8Array, number]][] = [
  ["one other address", () => [new Uint8Array([10, 77, 0, 3]), 40000]],
  ["10,000 addresses", (i) => [new Uint8Array([10, 77, 128 + (i >> 8), i & 255]), 40000]],
  ["the client's address, another port", () => [CLIENT, 41000]],
];

for (const underLoad of [false, true]) {
  for (const [name, from] of floods) {
    Deno.test(`verifier: 10,000 forged packets from ${name}${underLoad ? ", under load" : ""} leave the user's resync and knock untouched`, () => {
      const { ctx, verify } = setup(underLoad);
      for (let i = 0; i < 10_000; i++) {
        const [source, port] = from(i);
        equal(verify(forged(), source, port), undefined);
      }
      const refused = ctx.counters.snapshot();
      equal(refused.tag + refused["rate-limited"], 10_000);
      equal(verify(resync(), CLIENT)?.kind, "accepted", "the resync");
      equal(verify(knock(), CLIENT)?.kind, "accepted", "the knock");
    });
  }
}

Deno.test("verifier: the clock-skew probe is rationed per source and in total; a right clock never needs it", () => {
  const { ctx, verify } = setup();
  // One source: its own probe budget (burst 4) is spent after 4 packets; the total is untouched.
  for (let i = 0; i < 100; i++) verify(forged(), new Uint8Array([10, 77, 0, 3]));
  // A client 5 minutes behind still gets its clock-skew answer: its own budget is full.
  const skewed = NOW - 300_000;
  equal(verify(resync(skewed), CLIENT)?.kind, "clock-skew");
  // Thousands of spoofed sources spend the total (400): then a skewed client gets silence, which
  // is the documented limit; a client whose clock is right still resyncs.
  for (let i = 0; i < 5_000; i++) {
    verify(forged(), new Uint8Array([10, 77, 128 + (i >> 8), i & 255]));
  }
  equal(verify(resync(skewed - 60_000), new Uint8Array([10, 77, 0, 9])), undefined);
  equal(verify(resync(), CLIENT)?.kind, "accepted");
  equal(ctx.counters.snapshot()["clock-skew"], 1);
});

Deno.test("probe budget: a refused probe does not make its source recent (no table write per flooded packet)", () => {
  const budget = new ProbeBudget({
    perSourcePerSecond: 0.001,
    perSourceBurst: 1,
    totalPerSecond: 1,
    totalBurst: 100,
    capacity: 2,
  }, 0);
  equal(budget.take("a", 0), true);
  equal(budget.take("b", 0), true);
  // "a" floods with its budget spent: every probe is refused, and "a" stays the least recently
  // granted source, so a third source evicts it (not "b", granted after it).
  for (let i = 0; i < 1_000; i++) equal(budget.take("a", 0), false);
  equal(budget.take("c", 0), true);
  equal(budget.size, 2);
  equal(budget.take("b", 0), false, "b was kept, with its budget spent");
  equal(budget.take("a", 0), true, "a was forgotten, so it starts again with a full budget");
});
