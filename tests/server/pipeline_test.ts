/**
 * The daemon's verifier and pipeline without root: frames are built with the packet codec, the
 * firewall, the state store and the raw socket are fakes that record what happened and in which
 * order.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { deriveMessageKey } from "../../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../../lib/protocol/message.ts";
import { openTrailer } from "../../lib/protocol/open.ts";
import { minuteOf } from "../../lib/protocol/random.ts";
import { sealTrailer, tagOf } from "../../lib/protocol/seal.ts";
import { serverAfterGrace } from "../../lib/state/sequence.ts";
import { pipelineWorld, SECRET, UID } from "./_pipeline_world.ts";

const ATTACKER = new Uint8Array([10, 77, 0, 3]);

function world(options: { commitFails?: boolean; openFails?: number } = {}) {
  let openFailures = options.openFails ?? 0;
  return pipelineWorld({
    ...(options.commitFails ? { commitFails: true } : {}),
    open: () => openFailures-- > 0 ? Promise.reject(new Error("nft failed")) : Promise.resolve(),
  });
}

function seal(kind: MessageBody["kind"], context: number, body: MessageBody): Uint8Array {
  return sealTrailer(deriveMessageKey(SECRET, UID, kind, context), body);
}

function knock(sequence: number, next: number, now: number, port = 22): Uint8Array {
  return seal("knock", sequence, {
    kind: "knock",
    protocol: "tcp",
    port,
    next,
    timestamp: Math.floor(now / 1000),
  });
}

function openAck(
  answer: Uint8Array,
  request: Uint8Array,
  kind: "ack" | "resync-reply",
  context: number,
  now: number,
) {
  return openTrailer(answer, () => [deriveMessageKey(SECRET, UID, kind, context)], {
    now: now / 1000,
    maxAge: 120,
    requestTag: tagOf(request),
  });
}

Deno.test("pipeline: a knock commits, then opens, then answers with an ack under the new number", async () => {
  const w = world();
  const k = knock(100, 101, w.now());
  await w.deliver(k);
  deepStrictEqual(w.events, ["commit current 101", "open 10.77.0.2 tcp/22", "reply"]);
  const ack = openAck(w.replies[0]!, k, "ack", 101, w.now());
  ok(ack.ok && ack.message.kind === "ack" && ack.message.port === 22);
  equal(w.counters.snapshot().accepted, 1);
});

Deno.test("pipeline: a retransmitted knock is answered again without rolling; from elsewhere it is a replay", async () => {
  const w = world();
  const k = knock(100, 101, w.now());
  await w.deliver(k);
  await w.deliver(k);
  deepStrictEqual(w.events.slice(3), ["open 10.77.0.2 tcp/22", "reply"]);
  deepStrictEqual(w.replies[1], w.replies[0]);
  equal(w.user.keys.sequence.sequence, 101);
  await w.deliver(k, ATTACKER);
  equal(w.events.length, 5, "nothing for the attacker");
  equal(w.counters.snapshot().replay, 1);
  // Outside the age window the retransmission is no longer answered.
  w.advance(121_000);
  await w.deliver(k);
  equal(w.events.length, 5);
});

Deno.test("pipeline: a failed state write opens nothing, answers nothing, and keeps the old number", async () => {
  const w = world({ commitFails: true });
  await w.deliver(knock(100, 101, w.now()));
  deepStrictEqual(w.events, ["commit current 101"]);
  equal(w.user.keys.sequence.sequence, 100);
  equal(w.user.lastAccepted, undefined);
  ok(w.lines.some((l) => l.includes("state-write-failed")));
});

Deno.test("pipeline: when the firewall fails, no ack; the retransmission retries the firewall", async () => {
  const w = world({ openFails: 1 });
  const k = knock(100, 101, w.now());
  await w.deliver(k);
  deepStrictEqual(w.events, ["commit current 101", "open 10.77.0.2 tcp/22"]);
  await w.deliver(k);
  deepStrictEqual(w.events.slice(2), ["open 10.77.0.2 tcp/22", "reply"]);
});

Deno.test("pipeline: policy refusals and a second knock under a spent number answer nothing", async () => {
  const w = world();
  await w.deliver(knock(100, 101, w.now(), 2222));
  equal(w.events.length, 0);
  equal(w.counters.snapshot().policy, 1);
  // Two different knocks under the same number: the first wins, the second is refused.
  const a = knock(101, 102, w.now());
  w.user.keys.sequence = { state: "current", sequence: 101 };
  const b = knock(101, 103, w.now());
  const frameA = w.deliver(a);
  const frameB = w.deliver(b);
  await Promise.all([frameA, frameB]);
  equal(w.user.keys.sequence.sequence, 102);
  equal(w.replies.length, 1);
});

Deno.test("pipeline: resync gives a pending number; the old one stays valid; grace expiry drops the new one", async () => {
  const w = world();
  const minute = minuteOf(w.now() / 1000);
  const resync = seal("resync", minute, { kind: "resync", timestamp: Math.floor(w.now() / 1000) });
  await w.deliver(resync);
  const state = w.user.keys.sequence;
  equal(state.state, "pending");
  const reply = openAck(w.replies[0]!, resync, "resync-reply", minute, w.now());
  ok(reply.ok && reply.message.kind === "resync-reply" && reply.message.status === "ok");
  const pending = reply.message.sequence;
  equal(reply.message.graceSeconds, 600);
  ok(state.state === "pending" && state.pending === pending);

  // A replayed resync changes nothing and draws no answer.
  await w.deliver(resync);
  equal(w.replies.length, 1);
  equal(w.counters.snapshot().replay, 1);

  // The old number still works during the grace period...
  const viaOld = knock(100, 555, w.now());
  await w.deliver(viaOld);
  equal(w.user.keys.sequence.state, "current");
  equal(w.user.keys.sequence.sequence, 555);

  // ...and a pending number unused past the grace period is dropped.
  const second = seal("resync", minute, { kind: "resync", timestamp: Math.floor(w.now() / 1000) });
  await w.deliver(second);
  equal(w.user.keys.sequence.state, "pending");
  w.advance(601_000);
  w.user.keys.sequence = serverAfterGrace(w.user.keys.sequence, w.now());
  deepStrictEqual(w.user.keys.sequence, { state: "current", sequence: 555 });
});

Deno.test("pipeline: a resync from a clock 5 minutes off gets a clock-skew answer, 30 s off is fine", async () => {
  const w = world();
  const skewed = Math.floor(w.now() / 1000) + 300;
  const resync = seal("resync", minuteOf(skewed), { kind: "resync", timestamp: skewed });
  await w.deliver(resync);
  equal(w.user.keys.sequence.state, "current");
  const reply = openAck(w.replies[0]!, resync, "resync-reply", minuteOf(skewed), w.now());
  ok(reply.ok && reply.message.kind === "resync-reply" && reply.message.status === "clock-skew");
  equal(reply.message.timestamp, Math.floor(w.now() / 1000));
  // Its replay is not answered again.
  await w.deliver(resync);
  equal(w.replies.length, 1);

  const near = Math.floor(w.now() / 1000) + 30;
  const ok30 = seal("resync", minuteOf(near), { kind: "resync", timestamp: near });
  await w.deliver(ok30);
  equal(w.user.keys.sequence.state, "pending");
});

Deno.test("verifier: under load, a source that keeps failing is skipped before any cryptography", async () => {
  const w = world();
  w.context.underLoad = true;
  const forged = crypto.getRandomValues(new Uint8Array(37));
  forged.set([0, 0, 0, 3, 232]);
  for (let i = 0; i < 10; i++) await w.deliver(forged, ATTACKER);
  const counts = w.counters.snapshot();
  equal(counts.tag, 3, "the burst");
  equal(counts["rate-limited"], 7);
  // Another source is not affected.
  await w.deliver(knock(100, 101, w.now()));
  equal(w.replies.length, 1);
});

Deno.test("pipeline: the next state is published only once it is durable, in one step", async () => {
  let release!: () => void;
  const seen: string[] = [];
  const w = pipelineWorld({
    commit: (user, state) => {
      // During the write the user still holds her old state; the write holds the new one.
      seen.push(`${user.keys.sequence.sequence} ${user.lastAccepted === undefined}`);
      seen.push(`${state.sequence.sequence} ${state.lastAccepted !== undefined}`);
      return new Promise<void>((resolve) => (release = resolve));
    },
  });
  const primary = w.user.keys.primary;
  const done = w.deliver(knock(100, 101, w.now()));
  await new Promise((resolve) => setTimeout(resolve, 0));
  deepStrictEqual(seen, ["100 true", "101 true"]);
  equal(w.user.keys.sequence.sequence, 100);
  equal(w.user.keys.primary, primary, "no keys derived before the commit");
  equal(w.replies.length, 0);
  release();
  await done;
  equal(w.user.keys.sequence.sequence, 101);
  ok(w.user.lastAccepted !== undefined);
  deepStrictEqual(w.events, ["commit current 101", "open 10.77.0.2 tcp/22", "reply"]);
});

Deno.test("pipeline: a grace period ends in the user's turn, committed, and only when it is over", async () => {
  const w = world();
  const minute = minuteOf(w.now() / 1000);
  await w.deliver(
    seal("resync", minute, { kind: "resync", timestamp: Math.floor(w.now() / 1000) }),
  );
  equal(w.user.keys.sequence.state, "pending");
  const commits = w.events.length;
  equal(await w.pipeline.expireGrace(w.user, w.now()), false, "not over yet");
  equal(w.events.length, commits, "nothing written");
  w.advance(601_000);
  equal(await w.pipeline.expireGrace(w.user, w.now()), true);
  deepStrictEqual(w.user.keys.sequence, { state: "current", sequence: 100 });
  deepStrictEqual(w.events.slice(commits), ["commit current 100"]);
});

Deno.test("pipeline: a copy that arrives while its knock is being committed is a replay, answered once", async () => {
  let release!: () => void;
  const w = pipelineWorld({ commit: () => new Promise<void>((resolve) => (release = resolve)) });
  const k = knock(100, 101, w.now());
  const first = w.deliver(k);
  await new Promise((resolve) => setTimeout(resolve, 0));
  // Not accepted until durable: the copy is not yet a retransmission of an accepted knock.
  const copy = w.deliver(k);
  equal(w.counters.snapshot().replay, 1);
  release();
  await Promise.all([first, copy]);
  deepStrictEqual(w.events, ["commit current 101", "open 10.77.0.2 tcp/22", "reply"]);
  // Once published, a copy is a retransmission again and is answered.
  await w.deliver(k);
  equal(w.replies.length, 2);
  equal(w.counters.snapshot().retransmit, 1);
});

/** The user's policy as a reload replaces it: only tcp/443 left. */
function withoutPort22(user: { policy: unknown }): void {
  const policy = user.policy as { ports: readonly { protocol: string; port: number }[] };
  user.policy = { ...policy, ports: policy.ports.filter((p) => p.port !== 22) };
}

Deno.test("pipeline: a reload that takes the port away while the knock commits: the number is spent, nothing opens", async () => {
  let release!: () => void;
  const w = pipelineWorld({ commit: () => new Promise<void>((resolve) => (release = resolve)) });
  const k = knock(100, 101, w.now());
  const first = w.deliver(k);
  await new Promise((resolve) => setTimeout(resolve, 0));
  withoutPort22(w.user); // the reload, while the commit runs: nothing was published to revoke
  release();
  await first;
  deepStrictEqual(w.events, ["commit current 101"]);
  equal(w.user.keys.sequence.sequence, 101);
  equal(w.user.lastAccepted, undefined);
  equal(w.counters.snapshot().policy, 1);
  // Its retransmission (the ack never came) opens nothing either.
  await w.deliver(k);
  deepStrictEqual(w.granted, []);
  equal(w.replies.length, 0);
});

Deno.test("pipeline: a retransmission of a knock whose port a reload took away reopens nothing", async () => {
  const w = pipelineWorld();
  const k = knock(100, 101, w.now());
  await w.deliver(k);
  deepStrictEqual(w.granted, ["10.77.0.2 tcp/22"]);
  withoutPort22(w.user); // lastAccepted kept: the policy of the day must still decide
  await w.deliver(k);
  deepStrictEqual(w.granted, ["10.77.0.2 tcp/22"]);
  equal(w.replies.length, 1);
  equal(w.counters.snapshot().policy, 1);
});

Deno.test("pipeline: inTurn runs after the user's queued knock, so a reload's write holds its state", async () => {
  let release!: () => void;
  const w = pipelineWorld({ commit: () => new Promise<void>((resolve) => (release = resolve)) });
  const first = w.deliver(knock(100, 101, w.now()));
  await new Promise((resolve) => setTimeout(resolve, 0));
  const seen: number[] = [];
  const later = w.pipeline.inTurn(w.user, () => {
    seen.push(w.user.keys.sequence.sequence);
    return Promise.resolve();
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  deepStrictEqual(seen, []); // still waiting for the knock's commit
  release();
  await Promise.all([first, later]);
  deepStrictEqual(seen, [101]);
});
