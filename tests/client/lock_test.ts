/**
 * The host state lock across processes: a second client waits for the first, and two clients
 * started at once for the same host never spend the same number.
 */

import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { HostState } from "../../lib/state/client_store.ts";
import { makeHome, runClient, spawnClient, startPipelineServer } from "./_helpers.ts";

Deno.test("knock waits while another process holds the host's state lock", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  const held = await HostState.lock(home.stateDir, "fake");
  const child = await spawnClient(home.dir, ["--host", "fake", "--verbose"]);
  let exited = false;
  const output = child.output().then((out) => {
    exited = true;
    return out;
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  equal(exited, false, "the client must wait for the lock");
  equal(server.received, 0, "nothing may be sent before the lock is taken");
  held.unlock();
  const out = await output;
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  match(
    new TextDecoder().decode(out.stderr),
    /waiting: another spa-client holds the state of fake/,
  );
  equal(server.accepted.length, 1);
});

Deno.test("two clients started at once for the same host never spend the same number", async () => {
  await using home = await makeHome();
  await using server = await startPipelineServer(home);
  const rounds = 4;
  for (let round = 0; round < rounds; round++) {
    const runs = await Promise.all([
      runClient(home.dir, ["--host", "fake"]),
      runClient(home.dir, ["check", "--host", "fake"]),
    ]);
    for (const run of runs) equal(run.code, 0, run.stderr);
  }
  equal(server.accepted.length, 2 * rounds);
  equal(new Set(server.spent).size, 2 * rounds, "a number was spent twice");
  equal(server.retransmits, 0);
  assertEquals((await home.state())?.sequence, {
    state: "current",
    sequence: server.state.sequence,
  });
  ok(server.refused.length === 0, server.refused.join());
});
