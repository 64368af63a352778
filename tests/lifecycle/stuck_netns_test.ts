/**
 * The client never stays stuck (issue 13, item 2), with the real spa-server and spa-client in
 * namespaces. First the reported sequence: a knock the server commits but cannot grant (its `nft`
 * refuses, so no ack), knocks while the daemon is down, the daemon back: a plain knock must get in,
 * saying in one line on stderr that it resynced. Then seeded random sequences of every fault the
 * rig has (lost requests, lost answers, random loss, a refusing nft, the daemon SIGKILLed and
 * knocked at while down, the client SIGKILLed mid-knock): after each sequence ends, the next plain
 * knock gets in, and the one after it gets in without a resync. SPA_STUCK_SEED=n replays a seed.
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { sleep } from "../../harness/knocker.ts";
import { ALICE, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { makeClientHome, udpWebHost } from "../e2e/_client_home.ts";
import { FaultRig, NO_WIRE_FAULTS, prng } from "./_fault_rig.ts";

const SERVER = "10.77.0.1";
/** Knocks into faults: short, they are expected to fail. */
const DURING = ["--timeout", "120ms", "--retries", "1", "--no-exec"];
/** The plain knock after the faults: the defaults a user has, a little faster. */
const AFTER = ["--timeout", "600ms", "--retries", "3", "--no-exec"];
/**
 * One try only while nft refuses: today's daemon answers a retransmission even when its grant
 * fails again, so a second try would be acked (a daemon matter, not the client's).
 */
const ONCE = ["--timeout", "300ms", "--retries", "0", "--no-exec"];
const RESYNC_NOTICE = /resync/i;

const ROUNDS = 24;
const MAX_FAULT_STEPS = 12;
/** Bound on the whole random run, whatever the machine's load. */
const TIME_LIMIT_MS = 150_000;

async function setupAll() {
  const topo = await createTopology(["server", "client"]);
  const setup = await writeServerSetup({ users: [ALICE], idleTimeout: "60s" });
  const home = await makeClientHome(setup, [udpWebHost(SERVER)]);
  return { topo, setup, home };
}

netnsTest(
  "stuck: a committed knock without ack, knocks into a dead daemon, the daemon back: a plain knock gets in",
  async () => {
    const { topo, setup, home } = await setupAll();
    await using _topo = topo;
    await using _home = home;
    const knock = (args: string[]) => home.run(topo, ["--host", "web", ...args]);
    try {
      await using rig = await FaultRig.start(topo, setup);
      const first = await knock(AFTER);
      equal(first.code, 0, first.stderr);

      // The server commits the knock, then nft refuses the grant: no ack.
      await rig.refuseNft(true);
      const refused = await knock(ONCE);
      equal(refused.code, 1, "no ack while nft refuses");
      // It resynced by itself, and the knock under the new number was not acked either: the
      // message says what that proves.
      match(refused.stderr, /answered a resync .* could not open the port/);
      await rig.refuseNft(false);

      // Knocks into a dead daemon: each adds unconfirmed numbers.
      await rig.killServer();
      for (let i = 0; i < 4; i++) equal((await knock(DURING)).code, 1);

      await rig.startServer();
      const back = await knock(AFTER);
      equal(back.code, 0, `the plain knock after the faults: ${back.stderr}`);
      const lines = back.stderr.trim().split("\n").filter((l) => l !== "");
      equal(lines.length, 1, `one line on stderr: ${back.stderr}`);
      match(lines[0]!, RESYNC_NOTICE);
      const next = await knock(AFTER);
      equal(next.code, 0, next.stderr);
      equal(next.stderr, "", "in sync again: no resync");
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

type Fault =
  | "knock"
  | "requests-lost"
  | "answers-lost"
  | "random-loss"
  | "wire-ok"
  | "nft-refuses"
  | "server-kill"
  | "server-start"
  | "client-kill";

const FAULTS: readonly [Fault, number][] = [
  ["knock", 6],
  ["requests-lost", 1],
  ["answers-lost", 2],
  ["random-loss", 1],
  ["wire-ok", 1],
  ["nft-refuses", 2],
  ["server-kill", 1],
  ["server-start", 1],
  ["client-kill", 2],
];

function pick(random: () => number): Fault {
  const total = FAULTS.reduce((sum, [, w]) => sum + w, 0);
  let r = random() * total;
  for (const [fault, weight] of FAULTS) {
    r -= weight;
    if (r < 0) return fault;
  }
  return "knock";
}

netnsTest(
  `stuck: ${ROUNDS} seeded random fault sequences; every plain knock after one ends gets in`,
  async () => {
    const seed = Number(Deno.env.get("SPA_STUCK_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    const { topo, setup, home } = await setupAll();
    await using _topo = topo;
    await using _home = home;
    const knockArgv = (args: string[]) => ["--host", "web", ...args];
    const tally: Record<string, number> = {
      steps: 0,
      failedDuring: 0,
      resyncedDuring: 0,
      resyncedAfter: 0,
    };
    const during = async (args: string[]) => {
      const run = await home.run(topo, knockArgv(args));
      if (run.code !== 0) tally.failedDuring!++;
      if (/resynced by itself|answered a resync/.test(run.stderr)) tally.resyncedDuring!++;
    };
    const context = () =>
      `seed ${seed} (rerun with SPA_STUCK_SEED=${seed}), ${JSON.stringify(tally)}`;
    const started = Date.now();
    try {
      await using rig = await FaultRig.start(topo, setup);
      for (let round = 0; round < ROUNDS; round++) {
        if (Date.now() - started > TIME_LIMIT_MS) {
          throw new Error(`Cannot finish in ${TIME_LIMIT_MS} ms: round ${round}, ${context()}`);
        }
        const steps = 1 + Math.floor(random() * MAX_FAULT_STEPS);
        const trace: string[] = [];
        for (let step = 0; step < steps; step++) {
          const fault = pick(random);
          trace.push(fault);
          tally.steps!++;
          tally[fault] = (tally[fault] ?? 0) + 1;
          switch (fault) {
            case "knock":
              await during(DURING);
              break;
            case "requests-lost":
              await rig.setWire({ ...rig.wire, requests: true });
              break;
            case "answers-lost":
              await rig.setWire({ ...rig.wire, answers: true });
              break;
            case "random-loss":
              await rig.setWire({ ...rig.wire, randomPercent: 30 + Math.floor(random() * 50) });
              break;
            case "wire-ok":
              await rig.setWire({ ...NO_WIRE_FAULTS });
              break;
            case "nft-refuses": {
              // One knock the server may commit but cannot grant.
              await rig.refuseNft(true);
              await during(ONCE);
              await rig.refuseNft(false);
              break;
            }
            case "server-kill":
              await rig.killServer();
              break;
            case "server-start":
              await rig.startServer();
              break;
            case "client-kill": {
              const child = home.spawn(topo, knockArgv(DURING));
              await sleep(random() * 400);
              try {
                child.kill("SIGKILL");
              } catch { /* it had finished */ }
              await child.output();
              break;
            }
            default: {
              const unreachable: never = fault;
              throw new TypeError(`unknown fault ${unreachable}`);
            }
          }
        }
        await rig.heal();
        const after = await home.run(topo, knockArgv(AFTER));
        const where = `round ${round} after [${trace.join(", ")}]`;
        equal(after.code, 0, `the plain knock ${where}: ${after.stderr} (${context()})`);
        const lines = after.stderr.split("\n").filter((l) => l !== "");
        ok(lines.length <= 1, `at most one line on stderr ${where}: ${after.stderr}`);
        if (lines.length === 1) {
          match(lines[0]!, RESYNC_NOTICE, where);
          tally.resyncedAfter!++;
        }
        const again = await home.run(topo, knockArgv(AFTER));
        equal(again.code, 0, `the second knock ${where}: ${again.stderr} (${context()})`);
        equal(again.stderr, "", `the second knock ${where} needs no resync (${context()})`);
        // Both sides hold the same number, and the client no longer carries unconfirmed ones.
        const server = JSON.parse(
          await Deno.readTextFile(`${setup.stateDir}/users/1000.json`),
        ).sequence;
        const client = await home.state("web");
        deepStrictEqual(client, { state: "current", sequence: server.sequence }, where);
        equal(server.state, "current", where);
      }
      // The faults bit: knocks failed, and the client had to resync to get back.
      ok(tally.failedDuring! > 0, `some knock failed during the faults: ${context()}`);
      ok(
        tally.resyncedDuring! + tally.resyncedAfter! > 0,
        `some knock needed a resync: ${context()}`,
      );
      console.error(`stuck test: ${context()}, ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
