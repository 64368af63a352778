/**
 * The sequence lifecycle with the real spa-server and spa-client in namespaces: lost state,
 * rolled-back state, replayed resyncs, an unused resync expiring, and skewed clocks (the client is
 * run under `faketime`, so there is no clock backdoor in the client).
 */

import { equal, match, ok } from "node:assert/strict";
import { Knocker, send, sleep, unhex } from "../../harness/knocker.ts";
import { capturedTrailers, startSniffer } from "../../harness/pcap_file.ts";
import { ALICE, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { makeClientHome, udpWebHost } from "../e2e/_client_home.ts";
import { cacheDir, clientArgv } from "../client/_helpers.ts";
import { hasFaketime } from "./_fault_rig.ts";

const SERVER = "10.77.0.1";
const FAST = ["--timeout", "300ms", "--retries", "2", "--no-exec"];
const RESYNC = ["--timeout", "500ms", "--retries", "3"];

async function serverState(
  stateDir: string,
  uid: number,
): Promise<{ state: string; sequence: number; pending?: number }> {
  return JSON.parse(await Deno.readTextFile(`${stateDir}/users/${uid}.json`)).sequence;
}

netnsTest(
  "lifecycle: lost or rolled-back client state recovers with one resync; replayed resyncs change nothing",
  async (t) => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const setup = await writeServerSetup({ users: [ALICE], resyncGrace: "3s" });
    await using home = await makeClientHome(setup, [udpWebHost(SERVER)]);
    const server = await startServer(topo, setup);
    const stateFile = `${home.dir}/.local/state/spa/hosts/web.json`;
    const knock = () => home.run(topo, ["--host", "web", ...FAST]);
    const resync = () => home.run(topo, ["resync", "--host", "web", ...RESYNC]);
    try {
      await t.step("a first knock works and both sides agree", async () => {
        const run = await knock();
        equal(run.code, 0, run.stderr);
        equal(
          (await home.state("web"))?.sequence,
          (await serverState(setup.stateDir, 1000)).sequence,
        );
      });

      await t.step(
        "client state deleted: the plain knock resyncs by itself, says so, and gets in",
        async () => {
          await Deno.remove(stateFile);
          const run = await knock();
          equal(run.code, 0, run.stderr);
          match(run.stderr.trim(), /^spa-client: web was out of sync: resynced by itself/);
          equal(run.stderr.trim().split("\n").length, 1);
          const again = await knock();
          equal(again.code, 0, again.stderr);
          equal(again.stderr, "", "in sync: no resync");
          // The manual resync still works.
          equal((await resync()).code, 0);
          equal((await knock()).code, 0);
        },
      );

      await t.step(
        "client state rolled back to an older copy: the plain knock resyncs by itself and gets in",
        async () => {
          const old = await Deno.readTextFile(stateFile);
          equal((await knock()).code, 0);
          await Deno.writeTextFile(stateFile, old);
          const run = await knock();
          equal(run.code, 0, run.stderr);
          match(run.stderr, /resynced by itself/);
          equal((await knock()).stderr, "");
        },
      );

      await t.step(
        "replayed resync packets (from the attacker, and spoofing the client) change nothing",
        async () => {
          const pcap = `${setup.dir}/resync.pcap`;
          const sniffer = await startSniffer(topo, "attacker", pcap, "udp and dst port 22");
          equal(
            (await resync()).code,
            0,
          );
          await sleep(300);
          await sniffer.stop();
          const before = await serverState(setup.stateDir, 1000);
          const packets = (await capturedTrailers(pcap)).map((c) => c.tail);
          ok(packets.length >= 2, "the resync and its confirming check were captured");
          for (const tail of packets) {
            for (const src of ["10.77.0.3", "10.77.0.2"]) {
              await send(topo, "attacker", {
                src,
                dst: SERVER,
                proto: "udp",
                sport: 41000,
                payload: unhex(tail),
              });
            }
          }
          await sleep(300);
          const after = await serverState(setup.stateDir, 1000);
          equal(after.state, before.state);
          equal(after.sequence, before.sequence);
          equal((await knock()).code, 0, "the client is still in sync");
        },
      );

      await t.step(
        "a resync whose new number is never used expires; the old number works again",
        async () => {
          const current = (await serverState(setup.stateDir, 1000)).sequence;
          const stranger = new Knocker({ ...setup.users[0]!, sequence: current });
          const resync = stranger.seal({
            kind: "resync",
            timestamp: Math.floor(Date.now() / 1000),
          });
          const accepted = server.waitFor(/ resync user=alice/, 10_000, true);
          await send(topo, "attacker", {
            src: "10.77.0.3",
            dst: SERVER,
            proto: "udp",
            payload: resync,
          });
          await accepted;
          equal((await serverState(setup.stateDir, 1000)).state, "pending");
          await server.waitFor(/ resync-expired user=alice/, 8000);
          const back = await serverState(setup.stateDir, 1000);
          equal(back.state, "current");
          equal(back.sequence, current);
          equal((await knock()).code, 0, "the client's number works again");
        },
      );
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "lifecycle: a clock 30 s off still resyncs; 5 minutes off fails with a message about the clock",
  async (t) => {
    if (!(await hasFaketime())) {
      console.error("note: clock-skew steps skipped: needs faketime (Debian package faketime)");
      return;
    }
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({ users: [ALICE] });
    await using home = await makeClientHome(setup, [udpWebHost(SERVER)]);
    const server = await startServer(topo, setup);
    const skewed = (offset: string, args: string[]) => runSkewed(topo, home.dir, offset, args);
    try {
      await t.step("30 s ahead: resync and knock work", async () => {
        const resync = await skewed("+30s", ["resync", "--host", "web", ...RESYNC]);
        equal(resync.code, 0, resync.stderr);
        const knock = await skewed("+30s", ["--host", "web", ...FAST]);
        equal(knock.code, 0, knock.stderr);
      });
      await t.step("5 minutes behind: resync fails and says the clock is off", async () => {
        const resync = await skewed("-300s", ["resync", "--host", "web", ...RESYNC]);
        equal(resync.code, 1);
        match(resync.stderr, /clock/i);
        match(resync.stderr, /(4m|5m|300|29\d) ?s?/);
        ok(
          !/timed? ?out/i.test(resync.stderr.split("clock")[0] ?? ""),
          "the message leads with the clock, not a timeout",
        );
      });
      await t.step("5 minutes ahead: a knock is refused as from the future", async () => {
        const refused = server.waitFor(/refused user=alice .*reason=future/, 10_000, true);
        const knock = await skewed("+300s", ["--host", "web", ...FAST]);
        equal(knock.code, 1);
        await refused;
        // Its automatic resync got the server's clock-skew answer: the message says how far off.
        match(knock.stderr, /clock is (29\d|30\d) seconds ahead of the server's/);
      });
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

async function runSkewed(topo: Topology, home: string, offset: string, args: string[]) {
  const denoDir = await cacheDir();
  return await topo.exec(
    "client",
    ["faketime", "-f", offset, Deno.execPath(), ...clientArgv(args)],
    {
      env: { HOME: home, DENO_DIR: denoDir },
    },
  );
}
