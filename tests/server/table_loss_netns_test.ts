/**
 * Issue 12, item 1: the firewall table deleted or changed from outside while spa-server runs
 * (`nft delete table`, an operator's `nft -f /etc/nftables.conf` that starts with `flush ruleset`,
 * a flushed chain). The daemon notices within 2 s, rebuilds its table with the live grants, logs
 * an error and counts it in status; meanwhile the protected port is closed again to everyone
 * without a grant.
 */

import { equal, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import { connect, Knocker, knockIn, sleep, startEcho } from "../../harness/knocker.ts";
import { ALICE, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { nftWrapper, startServerWithEnv } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";

/** Debian's stock /etc/nftables.conf: what `systemctl restart nftables` loads. */
const DEBIAN_NFTABLES_CONF = `flush ruleset

table inet filter {
	chain input {
		type filter hook input priority filter;
	}
	chain forward {
		type filter hook forward priority filter;
	}
	chain output {
		type filter hook output priority filter;
	}
}
`;

netnsTest(
  "spa-server: a table deleted or changed from outside is rebuilt within 2 s",
  async (t) => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const setup = await writeServerSetup({ users: [ALICE] });
    await Deno.writeTextFile(`${setup.dir}/nftables.conf`, DEBIAN_NFTABLES_CONF);
    await startEcho(topo, "server", 22);
    const server = await startServer(topo, setup);
    const alice = new Knocker(setup.users[0]!);
    const measured: Record<string, number> = {};
    try {
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      equal(await connect(topo, "client", SERVER, 22), "connected");
      equal(await connect(topo, "attacker", SERVER, 22), "timeout");

      const faults: [string, string[]][] = [
        ["nft delete table inet spa", ["nft", "delete", "table", "inet", "spa"]],
        ["nft -f /etc/nftables.conf (Debian's, flush ruleset)", [
          "nft",
          "-f",
          `${setup.dir}/nftables.conf`,
        ]],
        ["nft flush chain inet spa input", ["nft", "flush", "chain", "inet", "spa", "input"]],
        ["nft delete rule (the drop rule)", []],
      ];
      for (const [i, [name, argv]] of faults.entries()) {
        await t.step(`${name}: rebuilt with the grant, port closed to others again`, async () => {
          let command = argv;
          if (command.length === 0) {
            // The last rule of the chain is the one that drops; delete it by its handle.
            const listing = await topo.execOk("server", [
              "nft",
              "-a",
              "list",
              "chain",
              "inet",
              "spa",
              "input",
            ]);
            const handle = /drop # handle (\d+)/.exec(listing)?.[1];
            ok(handle !== undefined, listing);
            command = ["nft", "delete", "rule", "inet", "spa", "input", "handle", handle];
          }
          const restored = server.waitFor(/ table-restored /, 10_000, true);
          await topo.execOk("server", command);
          const start = performance.now();
          await restored;
          const ms = Math.round(performance.now() - start);
          measured[name] = ms;
          ok(ms < 2000, `rebuilt after ${ms} ms`);
          match(server.lines.filter((l) => / table-lost /.test(l)).length, i + 1);
          equal(await connect(topo, "attacker", SERVER, 22), "timeout", "closed to the attacker");
          equal(await connect(topo, "client", SERVER, 22), "connected", "the grant survived");
          const listing = await topo.execOk("server", ["nft", "list", "table", "inet", "spa"]);
          ok(listing.includes(CLIENT), `the grant is back in the kernel:\n${listing}`);
        });
      }

      await t.step("status counts the rebuilds; no grant was closed", async () => {
        await sleep(1500);
        const status = await readStatus(setup.stateDir);
        equal(status?.counters["table-restored"], faults.length);
        equal(status?.grants.length, 1);
        ok(!server.lines.some((l) => / close /.test(l)), server.lines.join("\n"));
        console.log(`rebuild after the fault (ms): ${JSON.stringify(measured)}`);
      });
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

function match(actual: number, expected: number): void {
  equal(actual, expected, "one table-lost line per fault");
}

netnsTest(
  "spa-server: without nft monitor, its tick still rebuilds a deleted table within 2 s",
  async () => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const setup = await writeServerSetup({ users: [ALICE] });
    const nft = await nftWrapper(setup.dir);
    await nft.breakMonitor();
    await startEcho(topo, "server", 22);
    const server = await startServerWithEnv(topo, setup, { PATH: nft.path });
    const alice = new Knocker(setup.users[0]!);
    try {
      await server.waitFor(/ table-monitor-/, 5000);
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const restored = server.waitFor(/ table-restored /, 10_000, true);
        await topo.execOk("server", ["nft", "delete", "table", "inet", "spa"]);
        const start = performance.now();
        await restored;
        times.push(Math.round(performance.now() - start));
        equal(await connect(topo, "attacker", SERVER, 22), "timeout");
        equal(await connect(topo, "client", SERVER, 22), "connected");
      }
      console.log(`rebuild by the tick alone (ms): ${times.join(", ")}`);
      ok(Math.max(...times) < 2000, `rebuilt after ${times} ms`);
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
