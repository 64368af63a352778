/**
 * Issue 15, goal 3: the nft backend execs nft once. Grants and listings go to one long-lived
 * `nft -j -i`; each command line is one transaction whose result (success, nft's error) is read
 * back; a hung session is killed at the time limit and the next command starts a new one.
 */

import { equal, match, ok } from "node:assert/strict";
import { NftBackend, NftTimeoutError } from "../../lib/firewall/nft.ts";
import { NftSession } from "../../lib/firewall/nft_session.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";

const SSH = { protocol: "tcp" as const, port: 22, idleTimeoutMs: 60_000 };

netnsTest("nft session: 200 grants and listings through one nft process", async () => {
  await using topo = await createTopology(["server"]);
  const fw = new NftBackend({ command: ["ip", "netns", "exec", topo.host("server").ns, "nft"] });
  try {
    await fw.start([SSH]);
    for (let i = 0; i < 200; i++) {
      await fw.open({
        address: `10.77.9.${i % 250}`,
        protocol: "tcp",
        port: 22,
        timeoutMs: 60_000,
        fresh: true,
      });
    }
    equal((await fw.list()).length, 200);
    equal(await fw.verify(), undefined);
    equal(fw.sessionSpawns, 1, "one nft -j -i for 200 opens, a listing and a check");
    await fw.close({ address: "10.77.9.1", protocol: "tcp", port: 22 });
    equal((await fw.list()).length, 199);
    // A refused command is that command's error; the session lives on.
    await topo.execOk("server", ["nft", "delete", "table", "inet", "spa"]);
    const error = await fw.open({
      address: "10.77.9.1",
      protocol: "tcp",
      port: 22,
      timeoutMs: 60_000,
      fresh: true,
    }).catch((e) => e);
    match(
      String(error),
      /Cannot open grant: nft exited with code 1: Error: .*No such file or directory/,
    );
    equal(await fw.verify(), "the table is missing");
    await fw.restore(() => []);
    equal(await fw.verify(), undefined);
    equal(fw.sessionSpawns, 1);
  } finally {
    await fw.stop().catch(() => {});
  }
});

netnsTest("nft session: a line is one transaction, all or nothing", async () => {
  await using topo = await createTopology(["server"]);
  const session = new NftSession(["ip", "netns", "exec", topo.host("server").ns, "nft"]);
  try {
    equal(
      (await session.run("add table inet s; add set inet s g { type ipv4_addr; }", false)).code,
      0,
    );
    const failed = await session.run(
      "add element inet s g { 10.77.0.1 }; add element inet s nosuch { 10.77.0.2 }",
      false,
    );
    equal(failed.code, 1);
    match(failed.stderr, /nosuch/);
    const listing = await session.run("list set inet s g", true);
    equal(listing.code, 0);
    ok(
      !listing.stdout.includes("10.77.0.1"),
      "the first command of the failed line was not applied",
    );
    equal(session.spawns, 1);
  } finally {
    session.close();
  }
});

Deno.test("nft session: a hung nft is killed at the time limit; the next command starts a new one", async () => {
  const session = new NftSession(["bash", "-c", "exec sleep 30", "nft"]);
  try {
    const error = await session.run("list tables", true, { timeoutMs: 200 }).catch((e) => e);
    ok(error instanceof NftTimeoutError, String(error));
    match(error.message, /did not finish within 200 ms \(killed\)/);
    const again = await session.run("list tables", true, { timeoutMs: 200 }).catch((e) => e);
    ok(again instanceof NftTimeoutError);
    equal(session.spawns, 2, "a new process after the kill");
  } finally {
    session.close();
  }
});
