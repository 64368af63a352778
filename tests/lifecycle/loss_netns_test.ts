/**
 * 200 knocks through 20% packet loss in each direction (an nftables `numgen random` drop rule in
 * the hub's bridge, so the loss happens on the wire, out of sight of both ends; `tc netem` is not
 * available here): every knock gets in within its retries, or after one automatic resync; then the
 * attacker replays every packet it saw and opens nothing.
 */

import { equal, ok } from "node:assert/strict";
import { connect, sleep, tool } from "../../harness/knocker.ts";
import { capturedTrailers, startSniffer } from "../../harness/pcap_file.ts";
import { startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { makeClientHome } from "../e2e/_client_home.ts";
import { nft } from "./_fault_rig.ts";

const SERVER = "10.77.0.1";
const KNOCKS_PER_USER = 100;
const LOSS_PERCENT = 20;
/** Timeout and retries of every client run: 13 tries, a quarter second apart. */
const PATIENT = ["--timeout", "250ms", "--retries", "12"];

netnsTest(
  "lifecycle: 200 knocks at 20% loss each way all get in; replaying every packet opens nothing",
  async (t) => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const setup = await writeServerSetup({
      users: [
        { uid: 1000, name: "alice", ports: ["tcp/22"] },
        { uid: 1001, name: "bob", ports: ["tcp/22"] },
      ],
      idleTimeout: "60s",
    });
    await using home = await makeClientHome(setup, [
      { name: "a", address: SERVER, user: "alice", port: 22, transport: "udp" },
      { name: "b", address: SERVER, user: "bob", port: 22, transport: "udp" },
    ]);
    const server = await startServer(topo, setup);
    const pcap = `${setup.dir}/all.pcap`;
    try {
      // Loss on the wire: the hub drops knocks to the server and answers to the client.
      await nft(topo.hubNs, lossTable());
      const sniffer = await startSniffer(
        topo,
        "attacker",
        pcap,
        `udp and dst host ${SERVER} and dst port 22`,
      );

      const resyncs = { a: 0, b: 0 };
      const attempts = { a: 0, b: 0 };
      await t.step(`${2 * KNOCKS_PER_USER} knocks, two users at once`, async () => {
        await Promise.all((["a", "b"] as const).map(async (host) => {
          for (let i = 0; i < KNOCKS_PER_USER; i++) {
            const run = await home.run(topo, ["--host", host, ...PATIENT, "--no-exec", "--json"]);
            if (run.code === 0) {
              attempts[host] += JSON.parse(run.stdout).sent;
              continue;
            }
            // Not in within the retries: one automatic resync (the cron check), then it must get in.
            resyncs[host]++;
            const check = await home.run(topo, ["check", "--host", host, ...PATIENT]);
            ok(check.code === 0 || check.code === 3, `check ${host}: ${check.stderr}`);
            const again = await home.run(topo, ["--host", host, ...PATIENT, "--no-exec"]);
            equal(again.code, 0, `knock ${i} of ${host} after one resync: ${again.stderr}`);
          }
        }));
        ok(resyncs.a + resyncs.b <= 4, `resyncs needed: ${JSON.stringify(resyncs)}`);
        // The loss was real: on average a knock needed more than one packet.
        ok(
          attempts.a + attempts.b > 2 * KNOCKS_PER_USER * 1.2,
          `packets sent: ${JSON.stringify(attempts)}`,
        );
        console.error(
          `loss test: packets sent per user ${JSON.stringify(attempts)}, ` +
            `resyncs ${JSON.stringify(resyncs)}`,
        );
      });

      await sleep(300);
      await sniffer.stop();
      await nft(topo.hubNs, "delete table bridge loss");

      await t.step(
        "the attacker replays every packet it saw, from itself and as the client: nothing opens",
        async () => {
          const tails = [...new Set((await capturedTrailers(pcap)).map((c) => c.tail))];
          // The hub's loss hits the attacker's copies too, so it saw most knocks, not all.
          ok(tails.length >= KNOCKS_PER_USER, `captured ${tails.length}`);
          const acceptedBefore = server.lines.filter((l) => / accept /.test(l)).length;
          const list = `${setup.dir}/replay.txt`;
          await Deno.writeTextFile(list, tails.join("\n"));
          for (const src of ["10.77.0.3", "10.77.0.2"]) {
            const sent = await tool(
              topo,
              "attacker",
              "send-many",
              "--src",
              src,
              "--dst",
              SERVER,
              "--proto",
              "udp",
              "--sport",
              "41000",
              "--dport",
              "22",
              "--payloads",
              list,
            );
            equal(sent, `sent ${tails.length}`);
          }
          await sleep(500);
          equal(
            server.lines.filter((l) => / accept /.test(l)).length,
            acceptedBefore,
            "no knock accepted",
          );
          equal(await connect(topo, "attacker", SERVER, 22), "timeout");
        },
      );
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

/** A bridge table dropping LOSS_PERCENT of the client's knocks and of the server's answers. */
function lossTable(): string {
  const drop = `numgen random mod 100 < ${LOSS_PERCENT} drop`;
  return [
    "table bridge loss {",
    "  chain forward {",
    "    type filter hook forward priority 0;",
    `    ip saddr 10.77.0.2 ip daddr ${SERVER} udp dport 22 ${drop}`,
    `    ip saddr ${SERVER} ip daddr 10.77.0.2 udp sport 22 ${drop}`,
    "  }",
    "}",
  ].join("\n");
}
