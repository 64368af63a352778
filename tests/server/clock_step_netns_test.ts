/**
 * Issue 12, item 9: the server's wall clock steps back an hour (libfaketime, driven from a file)
 * while a grant is open. Grant bookkeeping runs on the monotonic clock, so `status` keeps showing
 * seconds left, not an hour, and the daemon notices the kernel's expiry on time: `close` and
 * `on_close` follow the idle timeout.
 */

import { equal, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import { connect, Knocker, knockIn, sleep, startEcho } from "../../harness/knocker.ts";
import { ALICE, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { startServerWithEnv } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const LOADER = "/lib64/ld-linux-x86-64.so.2";

netnsTest("spa-server: a wall clock stepped back an hour moves no grant's expiry", async (t) => {
  await Deno.stat(LIBFAKETIME); // Debian package faketime
  await using topo = await createTopology(["server", "client"]);
  const marks = await Deno.makeTempDir({ prefix: "spa-marks-" });
  const setup = await writeServerSetup({
    users: [ALICE],
    idleTimeout: "3s",
    portSections: { "tcp/22": [`on_close = ["touch", "${marks}/closed"]`] },
  });
  const clock = `${setup.dir}/faketime`;
  await Deno.writeTextFile(clock, "+0");
  await startEcho(topo, "server", 22);
  // libfaketime is preloaded by the dynamic loader itself rather than through LD_PRELOAD, which
  // Deno refuses to pass on to the daemon's own children (nft, on_close) under --allow-run=LIST.
  const server = await startServerWithEnv(topo, setup, {
    FAKETIME_TIMESTAMP_FILE: clock,
    FAKETIME_NO_CACHE: "1",
    // A clock step moves the wall clock only, as ntpd or `date -s` would.
    FAKETIME_DONT_FAKE_MONOTONIC: "1",
  }, [LOADER, "--preload", LIBFAKETIME]);
  const alice = new Knocker(setup.users[0]!);
  try {
    await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
    equal(await connect(topo, "client", SERVER, 22), "connected");
    const stepped = performance.now();
    await Deno.writeTextFile(clock, "-3600");

    await t.step("status shows seconds left, not an hour", async () => {
      await sleep(1200);
      const status = await readStatus(setup.stateDir);
      ok(Date.parse(status!.updatedAt) < Date.now() - 3_000_000, "the server's clock was stepped");
      equal(status!.grants.length, 1);
      const left = status!.grants[0]!.expiresInMs;
      ok(left <= 3000, `status shows ${left} ms left`);
    });

    await t.step("close and on_close follow the kernel's expiry on time", async () => {
      await server.waitFor(/ close user=alice address=10\.77\.0\.2 port=tcp\/22 reason=idle/, 8000);
      const ms = Math.round(performance.now() - stepped);
      console.log(`close logged ${ms} ms after the step (idle timeout 3 s)`);
      await server.waitFor(/command-done command=on_close/, 5000);
      await Deno.stat(`${marks}/closed`);
      equal(await connect(topo, "client", SERVER, 22), "timeout");
      const status = await readStatus(setup.stateDir);
      equal(status!.grants.length, 0);
    });
  } finally {
    await server.stop("SIGTERM");
    await Deno.remove(setup.dir, { recursive: true });
    await Deno.remove(marks, { recursive: true });
  }
});
