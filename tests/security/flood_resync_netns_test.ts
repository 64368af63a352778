/**
 * Issue 13, item 3, with the real binaries: while a flooder sends packets carrying the user's UID
 * (random sealed bytes, so each one costs the daemon its tag checks), from its own address, from
 * thousands of spoofed addresses, and spoofing the client's own address, the user's resyncs,
 * knocks and checks all succeed on the first try (`--retries 0`). Each flood is bounded in count
 * and time (bench/flood.ts via bench/e2e/flooder.ts), and the daemon's counters show it arrived.
 */

import { equal, match, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import { startFlood } from "../../bench/e2e/flooder.ts";
import { sleep } from "../../harness/knocker.ts";
import { ALICE, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { makeClientHome, udpWebHost } from "../e2e/_client_home.ts";
import { cacheDir, clientArgv } from "../client/_helpers.ts";
import { hasFaketime } from "../lifecycle/_fault_rig.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const RATE = 5_000;
const FIRST_TRY = ["--timeout", "1s", "--retries", "0"];

netnsTest(
  "flood: forged-UID floods from other sources, many spoofed sources or the client's address cost the user's resync, knock and check nothing",
  async (t) => {
    await using topo = await createTopology(["server", "client", "flooder"]);
    const setup = await writeServerSetup({ users: [ALICE] });
    await using home = await makeClientHome(setup, [udpWebHost(SERVER)]);
    const server = await startServer(topo, setup);
    const floods: { name: string; source?: string; sources?: number }[] = [
      { name: "from the flooder's own address" },
      { name: "from 4096 spoofed addresses", sources: 4096 },
      { name: "spoofing the client's own address", source: CLIENT },
    ];
    try {
      const first = await home.run(topo, ["resync", "--host", "web", ...FIRST_TRY]);
      equal(first.code, 0, `resync without a flood: ${first.stderr}`);
      for (const f of floods) {
        await t.step(`${RATE} pps of forged packets ${f.name}`, async () => {
          const flood = startFlood(topo, topo.host("flooder"), topo.host("server"), {
            kind: "forged",
            rate: RATE,
            seconds: 30,
            port: 9,
            uid: 1000,
            batch: 8, // evenly paced: a batch every 1.6 ms
            ...(f.source === undefined ? {} : { source: f.source }),
            ...(f.sources === undefined ? {} : { sources: f.sources }),
          });
          try {
            await sleep(1_000); // the per-user budget of protocol 1 is long drained by now
            for (let i = 0; i < 4; i++) {
              const resync = await home.run(topo, ["resync", "--host", "web", ...FIRST_TRY]);
              equal(resync.code, 0, `resync ${i + 1}: ${resync.stderr}`);
              const knock = await home.run(topo, ["--host", "web", "--no-exec", ...FIRST_TRY]);
              equal(knock.code, 0, `knock ${i + 1}: ${knock.stderr}`);
            }
            const check = await home.run(topo, ["check", "--host", "web", ...FIRST_TRY]);
            equal(check.code, 0, `check: ${check.stderr}`);
          } finally {
            flood.stop();
            await flood.done.catch(() => undefined);
          }
        });
      }
      await t.step(
        "the floods reached the daemon and each forged packet failed its tag",
        async () => {
          await sleep(5_500); // the status file is rewritten every 5 s
          const status = await readStatus(setup.stateDir);
          ok(status !== undefined);
          ok(
            status.counters.tag >= 3 * RATE,
            `tag failures ${status.counters.tag}: the floods did not arrive`,
          );
        },
      );
      if (await hasFaketime()) {
        await t.step(
          "a client 5 minutes off is still told so during a flood from elsewhere",
          async () => {
            const flood = startFlood(topo, topo.host("flooder"), topo.host("server"), {
              kind: "forged",
              rate: RATE,
              seconds: 20,
              port: 9,
              uid: 1000,
            });
            try {
              await sleep(1_000);
              const out = await topo.exec(
                "client",
                [
                  "faketime",
                  "-f",
                  "-300s",
                  Deno.execPath(),
                  ...clientArgv(["resync", "--host", "web", ...FIRST_TRY]),
                ],
                { env: { HOME: home.dir, DENO_DIR: await cacheDir() } },
              );
              equal(out.code, 1);
              match(out.stderr, /clock/i);
              match(out.stderr, /(4m|5m|300|29\d) ?s?/);
            } finally {
              flood.stop();
              await flood.done.catch(() => undefined);
            }
          },
        );
      }
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
