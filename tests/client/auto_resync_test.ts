/**
 * The plain knock's automatic resync (issue 13, item 2), without root: `spa-client` against the
 * real verifier and pipeline behind `_pipeline_server.ts`. Out of sync, it resyncs once, says so in one line, and gets in;
 * when it cannot, its one line says what the host's answers prove; and what an attacker who drops
 * or forges packets can make of it: a bound knock stays bound, a resync reply not bound to this
 * request (replayed) moves nothing.
 */

import dgram from "node:dgram";
import { deepStrictEqual as equal, match, ok } from "node:assert/strict";
import { Secret } from "../../lib/config/secret.ts";
import { resyncRequest } from "../../lib/client/messages.ts";
import { deriveMessageKey } from "../../lib/protocol/key_schedule.ts";
import { minuteOf } from "../../lib/protocol/random.ts";
import { sealTrailer, tagOf } from "../../lib/protocol/seal.ts";
import { TRAILER_LENGTH } from "../../lib/protocol/constants.ts";
import { makeHome, runClient, startPipelineServer } from "./_helpers.ts";

const NOTICE = /^spa-client: fake was out of sync: resynced by itself, then knocked again$/;

Deno.test("auto resync: out of sync, the plain knock resyncs once, says so in one line, gets in", async () => {
  await using home = await makeHome();
  // The server holds a number the client never knew (its state lost, or a crash before a save).
  await using server = await startPipelineServer(home, { sequence: home.sequence + 1 });
  const run = await runClient(home.dir, ["--host", "fake", "--json"]);
  equal(run.code, 0, run.stderr);
  match(run.stderr.trim(), NOTICE);
  equal(run.stderr.trim().split("\n").length, 1);
  const report = JSON.parse(run.stdout);
  equal(report.resynced, true);
  equal(server.resyncs, 1);
  equal(server.accepted.length, 1);
  equal((await home.state())?.sequence, { state: "current", sequence: server.state.sequence });

  const again = await runClient(home.dir, ["--host", "fake", "--json"]);
  equal(again.code, 0, again.stderr);
  equal(again.stderr, "");
  equal(JSON.parse(again.stdout).resynced, false);
  equal(server.resyncs, 1);
});

Deno.test("auto resync: a knock whose packets an attacker drops stays bound after the resync", async () => {
  await using home = await makeHome();
  // Every packet of the first try is dropped, and the server is out of sync: the client resyncs.
  await using server = await startPipelineServer(home, {
    sequence: home.sequence + 1,
    dropRequests: 1,
  });
  const run = await runClient(home.dir, [
    "--host",
    "fake",
    "--bind-source",
    "auto",
    "--retries",
    "0",
    "--json",
  ]);
  equal(run.code, 0, run.stderr);
  equal(JSON.parse(run.stdout).bound, true);
  equal(server.resyncs, 1);
  equal(server.accepted.length, 1);
  // The knock after the resync is the same request under a new number: bound, same port.
  equal(server.accepted[0]!.bound, true);
  equal(server.accepted[0]!.port, 22);
});

Deno.test("auto resync: a clock 5 minutes off is named, with how far", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, { clockOffset: 300 });
  const run = await runClient(home.dir, ["--host", "fake", "--retries", "0"]);
  equal(run.code, 1);
  match(run.stderr, /clock is (29\d|30\d) seconds behind the server's; set it right/);
  equal(run.stderr.trim().split("\n").length, 1);
  equal(server.resyncs, 1);
  equal(server.accepted.length, 0);
});

Deno.test("auto resync: silence gets one resync, bounded, and a message naming every cause", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    sequence: home.sequence + 1,
    resync: "silent",
  });
  const started = performance.now();
  const run = await runClient(home.dir, ["--host", "fake", "--timeout", "200ms"]);
  const elapsed = performance.now() - started;
  equal(run.code, 1);
  match(
    run.stderr,
    /no answer from 127\.0\.0\.1 to the knock for tcp\/22 \(3 packets\) nor to a resync \(3 tries\): the host is unreachable or spa-server is not running there, it does not hold this key for uid 1000, or this machine's clock is more than 15 minutes off/,
  );
  equal(run.stderr.trim().split("\n").length, 1);
  // Three knock packets, then three resync requests: one resync, never a loop.
  equal(server.received, 6);
  ok(elapsed < 5000, `took ${elapsed} ms`);
  // Nothing pending was saved: no reply verified.
  equal((await home.state())?.sequence.state, "current");
});

Deno.test("auto resync: a replayed resync reply (bound to another request) moves nothing", async () => {
  await using home = await makeHome();
  const key = { uid: home.uid, secret: new Secret(home.secret) };
  // A resync request the attacker captured earlier, and the server's genuine reply to it.
  const captured = resyncRequest(key, { pad: 0 }).payload;
  const now = Math.floor(Date.now() / 1000);
  const replyKey = deriveMessageKey(home.secret, home.uid, "resync-reply", minuteOf(now));
  const replies = [
    sealTrailer(replyKey, {
      kind: "resync-reply",
      status: "ok",
      sequence: 777,
      graceSeconds: 600,
      timestamp: now,
    }, { requestTag: tagOf(captured) }),
    sealTrailer(replyKey, {
      kind: "resync-reply",
      status: "clock-skew",
      sequence: 0,
      graceSeconds: 0,
      timestamp: now + 3000,
    }, { requestTag: tagOf(captured) }),
  ];
  // The attacker answers every packet with those replies.
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  let answered = 0;
  socket.on("message", (payload: Uint8Array, remote: dgram.RemoteInfo) => {
    if (payload.length < TRAILER_LENGTH) return;
    for (const reply of replies) socket.send(reply, remote.port, remote.address);
    answered++;
  });
  try {
    await home.writeConfig(socket.address().port);
    const run = await runClient(home.dir, ["--host", "fake", "--retries", "0"]);
    equal(run.code, 1);
    match(run.stderr, /no answer from .* nor to a resync/);
    ok(!/seconds (behind|ahead)/.test(run.stderr), `no forged clock-skew: ${run.stderr}`);
    equal(answered, 2, "the knock and the resync were both answered, falsely");
    const state = await home.state();
    equal(state?.sequence.state, "current");
    equal(state?.sequence.sequence, home.sequence);
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
});

Deno.test("an unanswered knock adds one unconfirmed number, however many candidates it sent", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    sequence: home.sequence + 1,
    resync: "silent",
  });
  const lengths: number[] = [];
  for (let i = 0; i < 3; i++) {
    const run = await runClient(home.dir, [
      "--host",
      "fake",
      "--retries",
      "0",
      "--timeout",
      "100ms",
    ]);
    equal(run.code, 1);
    lengths.push(((await home.state())?.sequence.unconfirmed as number[]).length);
  }
  // One fresh number shared by every candidate's request (it was one per candidate: 1, 3, 4).
  equal(lengths, [1, 2, 3]);
  // Knock 3 sent 3 candidates (own number and 2 unconfirmed), then one resync request.
  equal(server.received, 1 + 1 + 2 + 1 + 3 + 1);
});
