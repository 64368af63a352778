/**
 * Issue 12, item 5: the captured interface is deleted and re-created while spa-server runs, or is
 * not there yet when it starts. The real daemon, real nft, a real TCP service.
 */

import { equal, match, ok } from "node:assert/strict";
import { connect, Knocker, knockIn, sleep, startEcho } from "../../harness/knocker.ts";
import { createLink, deleteLink } from "../../harness/relink.ts";
import {
  ALICE,
  serverArgv,
  ServerProcess,
  startServer,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { aliceWithEcho } from "./_faults.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";

netnsTest(
  "spa-server: the captured interface deleted and re-created: the daemon survives and captures again",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const { setup, alice } = await aliceWithEcho(topo, { idleTimeout: "30s" });
    try {
      const server = await startServer(topo, setup);
      await t.step("a knock works before the fault", async () => {
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });

      await t.step("deleting eth0: logged, the daemon stays up, its table stays", async () => {
        await deleteLink(topo, "server");
        await server.waitFor(/ capture-lost .*interface=eth0/, 5000);
        const exited = await Promise.race([server.exited.then(() => true), sleep(2000)]);
        ok(exited !== true, `spa-server exited:\n${server.lines.join("\n")}`);
        await topo.execOk("server", ["nft", "list", "table", "inet", "spa"]);
      });

      await t.step("eth0 back: captures again; a knock works; time measured", async () => {
        // The echo service listens on all addresses and survives the link; the grant died with
        // nothing (the table stayed), but the address it was for must knock again anyway.
        await createLink(topo, "server");
        const back = performance.now();
        await server.waitFor(/ capture-resumed .*interface=eth0/, 5000, true);
        const resumed = performance.now() - back;
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        const knocked = performance.now() - back;
        equal(await connect(topo, "client", SERVER, 22), "connected");
        console.log(
          `interface back → capture-resumed ${resumed.toFixed(0)} ms; → knock acked ${
            knocked.toFixed(0)
          } ms (the knock itself includes starting packet_tool)`,
        );
      });

      await t.step("SIGTERM still stops it cleanly (exit 0)", async () => {
        server.kill("SIGTERM");
        equal((await server.exited).code, 0);
        await server.waitFor(/ stop reason=SIGTERM/);
      });
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server: starts while its interface is missing, says so in status, captures once it appears",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const { setup, alice } = await aliceWithEcho(topo, { idleTimeout: "30s" });
    try {
      await deleteLink(topo, "server");
      let server: ServerProcess | undefined;
      await t.step("starts, guards its ports, logs that it waits for eth0", async () => {
        server = await startServer(topo, setup);
        await server.waitFor(/ capture-waiting .*interface=eth0/);
        await topo.execOk("server", ["nft", "list", "table", "inet", "spa"]);
      });
      await t.step("spa-server status says it waits for eth0", async () => {
        const status = await topo.exec(
          "server",
          serverArgv(setup, "status", "--config", setup.configPath),
        );
        equal(status.code, 0, status.stderr);
        match(status.stdout, /capture eth0: waiting for the interface/);
      });
      await t.step("eth0 appears: captured; a knock opens the port", async () => {
        await createLink(topo, "server");
        const back = performance.now();
        await server!.waitFor(/ capture-resumed .*interface=eth0/, 5000);
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        console.log(`interface appeared → knock acked ${(performance.now() - back).toFixed(0)} ms`);
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });
      server!.kill("SIGTERM");
      equal((await server!.exited).code, 0);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server: a capture that cannot work on an interface that is there ends the daemon non-zero",
  async () => {
    await using topo = await createTopology(["server"]);
    const setup = await writeServerSetup({
      users: [ALICE],
      // Valid TOML, valid for check-config, refused by libpcap's compiler.
      extra: [`bpf_filter = "tcp and and udp"`],
    });
    try {
      const out = await topo.exec(
        "server",
        serverArgv(setup, "run", "--config", setup.configPath),
      );
      equal(out.code, 1, out.stderr);
      match(out.stderr, /filter|compile|syntax/i);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server: an interface that comes back as one it cannot capture ends the daemon with exit 1",
  async () => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [ALICE],
      idleTimeout: "30s",
      // Lets everything through on Ethernet; does not compile for a link without Ethernet headers.
      extra: [`bpf_filter = "ether broadcast or not ether broadcast"`],
    });
    const alice = new Knocker(setup.users[0]!);
    try {
      await startEcho(topo, "server", 22);
      const server = await startServer(topo, setup);
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      await deleteLink(topo, "server");
      await server.waitFor(/ capture-lost .*interface=eth0/, 5000);
      // eth0 returns as a tun device (raw IP, no Ethernet header): the filter cannot apply.
      await topo.execOk("server", ["ip", "tuntap", "add", "dev", "eth0", "mode", "tun"]);
      await topo.execOk("server", ["ip", "link", "set", "eth0", "up"]);
      const status = await Promise.race([server.exited, sleep(10_000).then(() => undefined)]);
      ok(status !== undefined, `still running:\n${server.lines.join("\n")}`);
      equal(status.code, 1, "non-zero, so systemd's Restart=on-failure restarts it");
      await server.waitFor(/ capture-failed .*interface=eth0/);
      await server.waitFor(/ stop reason="?capture failed/);
      // Its table stays: the protected port is closed while it is down.
      await topo.execOk("server", ["nft", "list", "table", "inet", "spa"]);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
