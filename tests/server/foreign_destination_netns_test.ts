/**
 * Issue 12, item 10: a knock addressed to another host on a shared segment (the hub floods every
 * frame to every port, so the server's capture sees it) is not for this host: no grant, no answer
 * (which would come from an address the server does not own), a counted silent drop. An address
 * added to the server while it runs is its own at once. The real daemon and nft in namespaces.
 */

import { equal, ok } from "node:assert/strict";
import { connect, exchange, knockIn, sleep } from "../../harness/knocker.ts";
import { capturedTrailers, startSniffer } from "../../harness/pcap_file.ts";
import { grantCount, serverArgv, startServer } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { aliceWithEcho } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const OTHER = "10.77.0.3";

netnsTest("spa-server: knocks for another host's address are dropped and counted", async (t) => {
  await using topo = await createTopology(["server", "client", "other"]);
  const { setup, alice } = await aliceWithEcho(topo, { idleTimeout: "30s" });
  try {
    const server = await startServer(topo, setup);
    // tcpdump on the other host records every TCP packet the server's MAC puts on the hub.
    const pcap = `${setup.dir}/from-server.pcap`;
    const sniffer = await startSniffer(
      topo,
      "other",
      pcap,
      `ether src ${topo.host("server").mac} and (tcp or (ip6 and ip6[6] == 6))`,
    );

    await t.step("a knock to another host's IPv4 address: no answer, nothing opened", async () => {
      const { trailer } = alice.knock(22);
      // An answer would be a RST from OTHER:22 carrying a sealed ack (OTHER's own RST is empty).
      equal(
        await exchange(topo, "client", { src: CLIENT, dst: OTHER, payload: trailer }),
        undefined,
      );
      equal(await grantCount(topo), 0);
      equal(await connect(topo, "client", SERVER, 22), "timeout");
    });

    await t.step("and to its IPv6 address: the same", async () => {
      const { trailer } = alice.knock(22);
      equal(
        await exchange(topo, "client", { src: "fd77::2", dst: "fd77::3", payload: trailer }),
        undefined,
      );
      equal(await grantCount(topo), 0);
    });

    await t.step("the drops are counted as foreign-destination", async () => {
      let count = 0;
      for (let i = 0; i < 20 && count < 2; i++) {
        await sleep(500);
        const out = await topo.exec(
          "server",
          serverArgv(setup, "status", "--config", setup.configPath, "--json"),
        );
        count = JSON.parse(out.stdout).counters["foreign-destination"] ?? 0;
      }
      ok(count >= 2, `foreign-destination = ${count}`);
      ok(!server.lines.some((l) => / accept /.test(l)), "nothing was accepted");
    });

    await t.step("the knock's number was not spent: a knock to the server works", async () => {
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      equal(await connect(topo, "client", SERVER, 22), "connected");
    });

    await t.step(
      "tcpdump saw one sealed answer from the server: the ack of that knock",
      async () => {
        await sniffer.stop();
        equal((await capturedTrailers(pcap)).length, 1);
      },
    );

    await t.step("an address added to the server while it runs is accepted at once", async () => {
      await topo.execOk("server", ["ip", "addr", "add", "10.77.0.50/24", "dev", "eth0"]);
      await knockIn(topo, "client", alice, { src: CLIENT, dst: "10.77.0.50" });
      equal(await connect(topo, "client", "10.77.0.50", 22), "connected");
    });

    server.kill("SIGTERM");
    equal((await server.exited).code, 0);
  } finally {
    await Deno.remove(setup.dir, { recursive: true });
  }
});
