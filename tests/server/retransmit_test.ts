/**
 * The pipeline under retransmissions, without root (issue 12, items 2 and 4): an ack, first or
 * repeated, only once the grant is open; re-acks limited per user; a bounded queue in which a storm
 * of copies collapses into one waiting retransmission.
 */

import { equal } from "node:assert/strict";
import { MAX_QUEUED_PER_USER, RETRANSMIT_ACKS_BURST } from "../../lib/server/pipeline.ts";
import { pipelineWorld } from "./_pipeline_world.ts";

/** `open` decides each openGrant call: resolve, reject, or a promise the test settles. */
function world(open: (retransmit: boolean) => Promise<void>) {
  return pipelineWorld({ open });
}

Deno.test("pipeline: a retransmission is acked only once its grant is open", async () => {
  let failures = 2;
  const w = world(() =>
    failures-- > 0 ? Promise.reject(new Error("nft failed")) : Promise.resolve()
  );
  const k = w.knock(100, 101);
  await w.deliver(k);
  equal(w.replies.length, 0, "the knock whose open failed was acked");
  await w.deliver(k);
  equal(w.replies.length, 0, "the retransmission whose open failed was acked");
  await w.deliver(k);
  equal(w.replies.length, 1, "the retransmission that opened the grant was not acked");
  equal(w.opens.join(","), "false,true,true");
});

Deno.test("pipeline: re-acks are limited per user, then one a second", async () => {
  const w = world(() => Promise.resolve());
  const k = w.knock(100, 101);
  await w.deliver(k);
  for (let i = 0; i < 20; i++) await w.deliver(k);
  equal(w.replies.length, 1 + RETRANSMIT_ACKS_BURST);
  equal(w.counters.snapshot()["retransmit-limited"], 20 - RETRANSMIT_ACKS_BURST);
  w.advance(1000);
  await w.deliver(k);
  await w.deliver(k);
  equal(w.replies.length, 2 + RETRANSMIT_ACKS_BURST, "one more a second later");
});

Deno.test("pipeline: a storm of copies of an accepted knock collapses into one retransmission", async () => {
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  const w = world(() => calls++ === 0 ? Promise.resolve() : slow);
  const k = w.knock(100, 101);
  await w.deliver(k);
  const copies: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) copies.push(w.deliver(k));
  release();
  await Promise.all(copies);
  await w.pipeline.idle();
  const c = w.counters.snapshot();
  equal(c["retransmit-limited"], 999, JSON.stringify(c));
  equal(w.opens.length, 2, "one open for the knock, one for the single retransmission handled");
  equal(w.replies.length, 2);
});

Deno.test("pipeline: copies arriving while the knock is handled are bounded by the queue", async () => {
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const w = world(() => slow);
  const k = w.knock(100, 101);
  const all = [w.deliver(k)];
  for (let i = 0; i < 1000; i++) all.push(w.deliver(k));
  release();
  await Promise.all(all);
  await w.pipeline.idle();
  const c = w.counters.snapshot();
  equal(c["queue-full"], 1001 - MAX_QUEUED_PER_USER, JSON.stringify(c));
  equal(c.accepted, 1);
  equal(w.opens.length, 1, "one nft run");
  equal(w.replies.length, 1, "one ack");
});

Deno.test("pipeline: a replayed knock never opens the user's newer knock for its own source", async () => {
  // L1 (tcp/22 from the client) was accepted; then, in one batch, the user's fresh knock L2
  // (tcp/443 from another address) and a copy of L1 from the client's address (an attacker
  // sharing the client's NAT). The copy matched L1 when it was verified; by the time it is
  // handled, L2 is the user's last: it must be dropped, not answered with L2's grant.
  const w = world(() => Promise.resolve());
  const l1 = w.knock(100, 101);
  await w.deliver(l1);
  const other = new Uint8Array([10, 77, 0, 9]);
  const l2 = w.knock(101, 102, 443);
  const batch = [w.deliver(l2, other), w.deliver(l1)];
  await Promise.all(batch);
  await w.pipeline.idle();
  equal(w.granted.join(", "), "10.77.0.2 tcp/22, 10.77.0.9 tcp/443");
  equal(w.replies.length, 2, "the two knocks acked, the stale copy not");
});

Deno.test("pipeline: work queued for a user a reload replaced is dropped, not opened", async () => {
  let release!: () => void;
  const slow = new Promise<void>((resolve) => (release = resolve));
  const w = world(() => slow);
  const first = w.deliver(w.knock(100, 101));
  await new Promise((resolve) => setTimeout(resolve, 0)); // the first is opening its grant
  // Queued behind the first knock, then the reload replaces the user (a new key).
  const second = w.deliver(w.knock(101, 102, 443));
  w.replaceUser();
  release();
  await Promise.all([first, second]);
  await w.pipeline.idle();
  equal(w.granted.join(", "), "10.77.0.2 tcp/22");
  equal(w.counters.snapshot()["user-reloaded"], 1);
});
