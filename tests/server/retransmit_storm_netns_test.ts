/**
 * Issue 12, item 4: an attacker replays the user's last accepted knock, spoofing the client's
 * address, tens of thousands of times. The daemon's work stays O(1): the grant is refreshed in the
 * kernel at most once per short interval, re-acks are rate-limited per user, the queue is
 * bounded; the user's fresh knock still succeeds at once, and SIGTERM ends the daemon promptly.
 */

import { equal, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import { connect, hex, Knocker, knockIn, sleep, startEcho, tool } from "../../harness/knocker.ts";
import { ALICE, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { nftWrapper, rssKb, startServerWithEnv, terminate } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const COPIES = 25_000;

netnsTest(
  `spa-server: ${COPIES} spoofed replays of the last knock cost O(1); the fresh knock works`,
  async () => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const setup = await writeServerSetup({ users: [ALICE] });
    const nft = await nftWrapper(setup.dir); // no fault: it only counts the nft runs
    await startEcho(topo, "server", 22);
    const server = await startServerWithEnv(topo, setup, { PATH: nft.path });
    const alice = new Knocker(setup.users[0]!);
    try {
      const last = await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      await sleep(500);
      const rssBefore = await rssKb(server.child.pid);
      const runsBefore = (await nft.runs()).length;
      const payloads = `${setup.dir}/payloads`;
      await Deno.writeTextFile(payloads, `${hex(last)}\n`.repeat(COPIES));

      const start = performance.now();
      const sent = await tool(
        topo,
        "attacker",
        "send-many",
        "--payloads",
        payloads,
        "--src",
        CLIENT,
        "--dst",
        SERVER,
        "--proto",
        "tcp",
        "--sport",
        "41000",
        "--dport",
        "22",
      );
      const burstMs = Math.round(performance.now() - start);
      equal(sent, `sent ${COPIES}`);

      // The user's own next knock, right after the burst.
      const knockStart = performance.now();
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      const knockMs = Math.round(performance.now() - knockStart);
      equal(await connect(topo, "client", SERVER, 22), "connected");
      equal(await connect(topo, "attacker", SERVER, 22), "timeout");

      await sleep(2000);
      const runs = (await nft.runs()).slice(runsBefore);
      const rssAfter = await rssKb(server.child.pid);
      const status = await readStatus(setup.stateDir);
      ok(status !== undefined);
      const c = status.counters;
      const termMs = await terminate(server, 10_000);
      console.log(
        `${COPIES} copies in ${burstMs} ms: nft runs ${runs.length} (${
          runs.filter((r) => r === "add").length
        } adding), re-acked ${c.retransmit}, not re-acked ${c["retransmit-limited"]}, ` +
          `queue-full ${
            c["queue-full"]
          }, replay ${c.replay}; fresh knock acked in ${knockMs} ms; ` +
          `RSS ${Math.round(rssBefore / 1024)} -> ${Math.round(rssAfter / 1024)} MB; ` +
          `SIGTERM exit in ${termMs} ms`,
      );
      // One run for the fresh knock, and at most one refresh per 2 s of burst.
      ok(runs.length <= 2 + Math.ceil(burstMs / 2000), `nft ran ${runs.length} times`);
      ok(c.retransmit <= 3 + Math.ceil(burstMs / 1000), `re-acked ${c.retransmit} copies`);
      ok(rssAfter - rssBefore < 40 * 1024, `RSS grew ${rssAfter - rssBefore} kB`);
      ok(termMs < 3000, `SIGTERM took ${termMs} ms`);
    } finally {
      await server.stop("SIGKILL");
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
