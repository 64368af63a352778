/**
 * Fault injection: across 500 knocks, the client and the server are killed with SIGKILL at random
 * moments. After every knock both state files must parse, and the user must be able to get in
 * again: directly, or after one resync. A seeded PRNG makes a failing run reproducible
 * (SPA_CRASH_SEED=n).
 */

import { equal, ok } from "node:assert/strict";
import { sleep } from "../../harness/knocker.ts";
import {
  ALICE,
  type ServerProcess,
  startServer,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { makeClientHome, udpWebHost } from "../e2e/_client_home.ts";
import { prng } from "./_fault_rig.ts";

const KNOCKS = 500;
const CLIENT_KILL = 0.12;
const SERVER_KILL = 0.05;
const FAST = ["--timeout", "300ms", "--retries", "3", "--no-exec"];

netnsTest(
  `lifecycle: SIGKILL of client and server at random moments across ${KNOCKS} knocks never strands the user`,
  async () => {
    const seed = Number(Deno.env.get("SPA_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({ users: [ALICE], idleTimeout: "60s" });
    await using home = await makeClientHome(setup, [udpWebHost()]);
    let server: ServerProcess = await startServer(topo, setup);
    const tally = { clientKills: 0, serverKills: 0, direct: 0, afterResync: 0, failedKnocks: 0 };
    const context = () => `seed ${seed}, ${JSON.stringify(tally)}`;
    try {
      for (let i = 0; i < KNOCKS; i++) {
        const child = home.spawn(topo, ["--host", "web", ...FAST]);
        const r = random();
        let serverKilled = false;
        if (r < CLIENT_KILL) {
          await sleep(random() * 120);
          try {
            child.kill("SIGKILL");
            tally.clientKills++;
          } catch { /* it had finished */ }
        } else if (r < CLIENT_KILL + SERVER_KILL) {
          await sleep(random() * 120);
          server.kill("SIGKILL");
          await server.exited;
          serverKilled = true;
          tally.serverKills++;
        }
        const status = await child.output();
        if (serverKilled) server = await startServer(topo, setup);

        // No torn or empty state file on either side, whatever was killed when.
        await parseState(`${home.dir}/.local/state/spa/hosts/web.json`, context);
        await parseState(`${setup.stateDir}/users/1000.json`, context);

        if (status.code === 0) continue;
        tally.failedKnocks++;
        // The user must get in again: directly, or after one resync.
        const again = await home.run(topo, ["--host", "web", ...FAST]);
        if (again.code === 0) {
          tally.direct++;
          continue;
        }
        const resync = await home.run(topo, [
          "resync",
          "--host",
          "web",
          "--timeout",
          "500ms",
          "--retries",
          "3",
        ]);
        equal(resync.code, 0, `resync after knock ${i}: ${resync.stderr} (${context()})`);
        const last = await home.run(topo, ["--host", "web", ...FAST]);
        equal(last.code, 0, `knock ${i} after one resync: ${last.stderr} (${context()})`);
        tally.afterResync++;
      }
      ok(tally.clientKills > 0 && tally.serverKills > 0, context());
      console.error(`crash test: ${context()}`);
    } finally {
      server.kill("SIGTERM");
      await server.exited.catch(() => {});
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

async function parseState(path: string, context: () => string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return; // not written yet: fine, nothing torn
    throw error;
  }
  let parsed: { sequence?: { state?: string; sequence?: number } };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`${path} does not parse (${context()}): ${JSON.stringify(text.slice(0, 80))}`);
  }
  ok(
    parsed.sequence?.state === "current" || parsed.sequence?.state === "pending",
    `${path}: ${text}`,
  );
  ok(Number.isInteger(parsed.sequence?.sequence), `${path}: ${text}`);
}
