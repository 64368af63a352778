/**
 * The udp transport end to end, without root: `spa-client` (a subprocess with the shipped
 * permission flags) against the real verifier and pipeline of `_pipeline_server.ts` on 127.0.0.1.
 */

import {
  deepStrictEqual as assertEquals,
  match as assertMatch,
  notEqual,
  ok as assert,
} from "node:assert/strict";
import { makeHome, runClient, startPipelineServer } from "./_helpers.ts";

Deno.test("knock over udp: acked, committed, program run with placeholders and its exit code", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  const run = await runClient(home.dir, [
    "--host",
    "fake",
    "--",
    "sh",
    "-c",
    "echo ran {host} {address} {port}; exit 7",
  ]);
  assertEquals(run.code, 7, run.stderr);
  assertEquals(run.stdout.trim(), "ran fake 127.0.0.1 22");
  assertEquals(server.accepted.length, 1);
  assertEquals(server.accepted[0]!.keyedBy, home.sequence);
  assertEquals(server.accepted[0]!.port, 22);
  const state = await home.state();
  assertEquals(state?.sequence, { state: "current", sequence: server.state.sequence });
});

Deno.test("knock over udp: 10 knocks in a row, each its own process, stay in sync", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  for (let i = 0; i < 10; i++) {
    const run = await runClient(home.dir, ["--host", "fake", "--json"]);
    assertEquals(run.code, 0, run.stderr);
  }
  assertEquals(server.accepted.length, 10);
  assertEquals(new Set(server.spent).size, 10);
  assertEquals(server.retransmits, 0);
});

Deno.test("knock over udp: lost requests are retried with the same packet", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    dropRequests: 2,
  });
  const run = await runClient(home.dir, ["--host", "fake", "--json", "--pad", "100"]);
  assertEquals(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assertEquals(report.ok, true);
  assertEquals(report.attempts, 3);
  assertEquals(server.received, 3);
  assertEquals(server.accepted.length, 1);
  assertEquals(server.accepted[0]!.payloadLength, 137);
  // Never a secret or a trailer in the output.
  assert(!run.stdout.includes(btoa(String.fromCharCode(...home.secret))));
  assertEquals(Object.keys(report).sort(), [
    "address",
    "attempts",
    "bound",
    "elapsedMs",
    "host",
    "ok",
    "port",
    "protocol",
    "resynced",
    "sent",
    "transport",
    "viaPort",
  ]);
});

Deno.test("knock over udp: a lost ack is answered again on retry, and the server rolls once", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    dropReplies: 1,
  });
  const run = await runClient(home.dir, ["--host", "fake", "--json"]);
  assertEquals(run.code, 0, run.stderr);
  assertEquals(JSON.parse(run.stdout).attempts, 2);
  assertEquals(server.accepted.length, 1);
  assertEquals(server.retransmits, 1);
  assertEquals((await home.state())?.sequence.sequence, server.state.sequence);
});

Deno.test("knock over udp: every answer lost, then the next knock finds the server's number", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    // The knock's three acks, then the three replies to the automatic resync.
    dropReplies: 6,
  });
  const failed = await runClient(home.dir, ["--host", "fake"]);
  assertEquals(failed.code, 1);
  assertMatch(failed.stderr, /no answer from 127\.0\.0\.1 to the knock .* nor to a resync/);
  assertEquals(failed.stderr.trim().split("\n").length, 1);
  // The server rolled on the first packet; the client remembers the number it asked for.
  assertEquals(server.accepted.length, 1);
  const after = await home.state();
  assertEquals(after?.sequence.sequence, home.sequence);
  assert((after?.sequence.unconfirmed as number[]).includes(server.state.sequence));

  const again = await runClient(home.dir, ["--host", "fake", "--json", "--timeout", "200ms"]);
  assertEquals(again.code, 0, again.stderr);
  assertEquals(again.stderr, "", "no resync was needed");
  // Both candidate numbers went out together: the first try was acked.
  assertEquals(JSON.parse(again.stdout).attempts, 1);
  assertEquals(server.accepted.length, 2);
  assertEquals(new Set(server.spent).size, 2);
  assertEquals((await home.state())?.sequence, {
    state: "current",
    sequence: server.state.sequence,
  });
});

Deno.test("knock over udp: an ICMP port-unreachable does not abort the wait", async () => {
  await using home = await makeHome();
  // A port nothing listens on: the kernel answers each datagram with ICMP port unreachable.
  const server = await startPipelineServer(home);
  await server[Symbol.asyncDispose]();
  const started = performance.now();
  const run = await runClient(home.dir, ["--host", "fake", "--retries", "1", "--timeout", "400ms"]);
  const elapsed = performance.now() - started;
  assertEquals(run.code, 1, run.stderr);
  assertMatch(
    run.stderr,
    /no answer from 127\.0\.0\.1 to the knock for tcp\/22 \(2 packets\) nor to a resync \(2 tries\)/,
  );
  // The knock's two tries, then the automatic resync's two.
  assert(elapsed >= 1600, `waited only ${elapsed} ms`);
});

Deno.test("knock over udp: source binding, auto and a wrong address", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  const bound = await runClient(home.dir, ["--host", "fake", "--bind-source", "auto", "--json"]);
  assertEquals(bound.code, 0, bound.stderr);
  assertEquals(JSON.parse(bound.stdout).bound, true);
  assertEquals(server.accepted[0]!.bound, true);

  const wrong = await runClient(home.dir, [
    "--host",
    "fake",
    "--bind-source",
    "192.0.2.7",
    "--retries",
    "0",
  ]);
  assertEquals(wrong.code, 1);
  // Refused, resynced by itself, refused again under the new number and the one before it: the
  // message says what the answered resync proves.
  assertMatch(wrong.stderr, /answered a resync .* not allowed for uid 1000/);
  assertEquals(server.refused, ["binding", "binding", "binding"]);
  assertEquals(server.accepted.length, 1);
});

Deno.test("check over udp: in sync exits 0 quietly and rolls; out of sync resyncs and exits 3", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  const inSync = await runClient(home.dir, ["check", "--host", "fake"]);
  assertEquals(inSync.code, 0, inSync.stderr);
  assertEquals(inSync.stdout + inSync.stderr, "");
  assertEquals(server.accepted[0]!.kind, "check");

  // The client loses its state: the key file's number is stale, so the check resyncs.
  await Deno.remove(`${home.stateDir}/hosts/fake.json`);
  const resynced = await runClient(home.dir, ["check", "--host", "fake", "--timeout", "200ms"]);
  assertEquals(resynced.code, 3, resynced.stderr);
  assertEquals(server.resyncs, 1);
  // The confirming check made the new number current on both sides.
  assertEquals(server.state.state, "current");
  assertEquals((await home.state())?.sequence, {
    state: "current",
    sequence: server.state.sequence,
  });

  const json = await runClient(home.dir, ["check", "--all", "--json"]);
  assertEquals(json.code, 0, json.stderr);
  const results = JSON.parse(json.stdout);
  assertEquals(results.map((r: { status: string }) => r.status), ["in-sync"]);
});

Deno.test("resync over udp: ok, then knocks work; a fresh packet per try", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, { sequence: 99, dropRequests: 1 });
  const resync = await runClient(home.dir, ["resync", "--host", "fake", "--json"]);
  assertEquals(resync.code, 0, resync.stderr);
  const report = JSON.parse(resync.stdout);
  assertEquals(report.status, "resynced");
  assertEquals(report.graceSeconds, 600);
  assertEquals(server.refused, []); // the retry was a fresh packet, not a replay
  const knock = await runClient(home.dir, ["--host", "fake"]);
  assertEquals(knock.code, 0, knock.stderr);
  assertEquals((await home.state())?.sequence.sequence, server.state.sequence);
});

Deno.test("resync over udp: a clock-skew reply says how far the clock is off", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, { clockOffset: 300 });
  const before = await home.state();
  const run = await runClient(home.dir, ["resync", "--host", "fake"]);
  assertEquals(run.code, 1);
  assertEquals(server.resyncs, 1);
  assertMatch(run.stderr, /clock is (29\d|30\d) seconds behind the server's/);
  assertEquals(run.stderr.trim().split("\n").length, 1);
  assertEquals(await home.state(), before);
});

Deno.test("resync over udp: silence is reported with the clock as a possible cause", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home, {
    resync: "silent",
  });
  const run = await runClient(home.dir, ["resync", "--host", "fake", "--retries", "1"]);
  assertEquals(run.code, 1);
  assertMatch(run.stderr, /no reply after 2 tries.*clock/);
  notEqual(server.received, 0);
});
