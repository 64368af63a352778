/**
 * Issue 12, items 2 and 3: `nft` failing or hanging under the real daemon (a wrapper first on its
 * PATH injects the fault into the real nft's runs). An ack means the grant is in the kernel, for
 * the first knock and for its retransmissions; every nft run is killed past `nft_timeout`, and
 * SIGTERM ends the daemon within a bound even with a hung nft.
 */

import { equal, match, ok } from "node:assert/strict";
import { connect, exchange, Knocker, knockIn, sleep, startEcho } from "../../harness/knocker.ts";
import { ALICE, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { makeClientHome } from "../e2e/_client_home.ts";
import { nftWrapper, startServerWithEnv, terminate } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";

netnsTest(
  "spa-server: no ack, first or retransmitted, while nft cannot add the grant",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [ALICE, { uid: 1001, name: "bob", ports: ["tcp/22"] }],
    });
    const nft = await nftWrapper(setup.dir);
    await startEcho(topo, "server", 22);
    const server = await startServerWithEnv(topo, setup, { PATH: nft.path });
    await using home = await makeClientHome(setup, [
      { name: "web", address: SERVER, user: "bob", port: 22 },
    ]);
    const alice = new Knocker(setup.users[0]!);
    try {
      await t.step("spa-client (with its retries) reports failure, not Opened", async () => {
        await nft.set("fail-add");
        const run = await home.run(topo, [
          "--host",
          "web",
          "--retries",
          "2",
          "--timeout",
          "700ms",
        ]);
        ok(!/Opened/.test(run.stdout + run.stderr), `spa-client said: ${run.stdout}${run.stderr}`);
        equal(run.code, 1, run.stderr);
        // The client resynced by itself (the server answers resyncs) and still got no ack.
        match(run.stderr, /acked none of \d+ knock packets/);
        await nft.set("none");
      });
      await t.step("a knock and two retransmissions of it: no answer, port closed", async () => {
        await nft.set("fail-add");
        const { trailer, next } = alice.knock(22);
        const spec = { src: CLIENT, dst: SERVER, payload: trailer, sport: 40022, timeoutMs: 1500 };
        equal(await exchange(topo, "client", spec), undefined, "the first knock was answered");
        equal(await exchange(topo, "client", spec), undefined, "a retransmission was answered");
        equal(await exchange(topo, "client", spec), undefined, "a retransmission was answered");
        equal(await connect(topo, "client", SERVER, 22), "timeout");
        ok(server.lines.filter((l) => / open-failed user=alice/.test(l)).length >= 3);

        // Once nft works again, the same retransmission opens the port, then is answered.
        await nft.set("none");
        const answer = await exchange(topo, "client", spec);
        alice.accept(answer, { trailer, next }, "no ack once nft works");
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server: a hung nft is killed at nft_timeout, and SIGTERM still ends the daemon",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [ALICE],
      extra: [`nft_timeout = "1s"`],
    });
    const nft = await nftWrapper(setup.dir);
    await startEcho(topo, "server", 22);
    const server = await startServerWithEnv(topo, setup, { PATH: nft.path });
    const alice = new Knocker(setup.users[0]!);
    try {
      await t.step("the knock whose nft hangs is not acked; nft is killed and logged", async () => {
        await nft.set("hang-add");
        const { trailer, next } = alice.knock(22);
        const spec = { src: CLIENT, dst: SERVER, payload: trailer, sport: 40023, timeoutMs: 2500 };
        const accepted = server.waitFor(/ open-failed user=alice/, 5000, true);
        const answered = exchange(topo, "client", spec);
        // From the moment the daemon has the knock (its nft run starts) to the kill.
        const before = (await nft.runs()).length;
        for (let i = 0; i < 60 && (await nft.runs()).length === before; i++) await sleep(25);
        const start = performance.now();
        const line = await accepted;
        const ms = Math.round(performance.now() - start);
        match(line, /Cannot open grant: nft did not finish within 1000 ms \(killed\)/);
        console.log(`hung nft run killed and logged ${ms} ms after it started`);
        ok(ms < 1500, `${ms} ms`);
        equal(await answered, undefined, "the knock was acked");
        equal(await connect(topo, "client", SERVER, 22), "timeout");

        // The user's queue is not stuck behind it: the retransmission opens and is answered.
        await nft.set("none");
        const answer = await exchange(topo, "client", spec);
        alice.accept(answer, { trailer, next }, "no ack after nft recovered");
        equal(await connect(topo, "client", SERVER, 22), "connected");
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      });

      await t.step("SIGTERM with every nft run hanging ends the daemon within 3 s", async () => {
        await nft.set("hang");
        const { trailer } = alice.knock(22);
        // A fresh knock whose nft run hangs, then SIGTERM while it does.
        void exchange(topo, "client", {
          src: CLIENT,
          dst: SERVER,
          payload: trailer,
          timeoutMs: 500,
        });
        const before = (await nft.runs()).length;
        for (let i = 0; i < 40 && (await nft.runs()).length === before; i++) await sleep(50);
        ok((await nft.runs()).length > before, "the knock started an nft run");
        const ms = await terminate(server, 10_000);
        console.log(`SIGTERM with a hung nft: exited after ${ms} ms`);
        ok(ms < 3000, `exited after ${ms} ms`);
        ok(server.lines.some((l) => / stop /.test(l)), "a stop line");
        ok(server.lines.some((l) => / firewall-stop-failed .*did not finish/.test(l)));
      });
    } finally {
      await server.stop("SIGKILL");
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
