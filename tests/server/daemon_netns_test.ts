/**
 * spa-server end to end, in namespaces: a server host with a real TCP service on the protected
 * ports, a client host, and an attacker host on the same hub that sees every frame.
 * Knocks are sealed by the test with the protocol core and sent raw, so each byte is controlled.
 */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import {
  connect,
  exchange,
  hex,
  Knocker,
  knockIn,
  replay,
  send,
  sleep,
  startEcho,
  tool,
} from "../../harness/knocker.ts";
import { serverArgv, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { startSniffer } from "../../harness/pcap_file.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { statOrUndefined } from "../../lib/config/_read.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const ATTACKER = "10.77.0.3";

async function nftGrants(topo: Topology): Promise<string[]> {
  const out = await topo.execOk("server", ["nft", "-j", "list", "table", "inet", "spa"]);
  const grants: string[] = [];
  for (
    const item of JSON.parse(out).nftables as Record<string, { name?: string; elem?: unknown[] }>[]
  ) {
    const set = item.set;
    if (set?.elem === undefined) continue;
    for (const elem of set.elem) grants.push(JSON.stringify(elem));
  }
  return grants;
}

const exists = async (path: string) => await statOrUndefined(path) !== undefined;

netnsTest(
  "spa-server: knock opens exactly one port for exactly one address, idle closes it",
  async (t) => {
    await using topo = await createTopology(["server", "client", "attacker"]);
    const marks = await Deno.makeTempDir({ prefix: "spa-marks-" });
    const setup = await writeServerSetup({
      users: [{ uid: 1000, name: "alice", ports: ["tcp/22", "tcp/2222"] }],
      idleTimeout: "3s",
      portSections: {
        "tcp/22": [
          `on_open = ["touch", "${marks}/opened"]`,
          `on_close = ["touch", "${marks}/closed"]`,
        ],
      },
    });
    await startEcho(topo, "server", 22);
    await startEcho(topo, "server", 2222);
    const server = await startServer(topo, setup);
    const alice = new Knocker(setup.users[0]!);
    const sent: Uint8Array[] = [];
    try {
      await t.step("before a knock the port is closed and silent (timeout, no RST)", async () => {
        equal(await connect(topo, "client", SERVER, 22), "timeout");
        equal(await connect(topo, "attacker", SERVER, 22), "timeout");
      });

      // The attacker records everything the client sends to port 22.
      const pcap = `${setup.dir}/sniffed.pcap`;
      const sniffer = await startSniffer(
        topo,
        "attacker",
        pcap,
        `tcp dst port 22 and src host ${CLIENT}`,
      );

      await t.step("a tampered knock opens nothing and gets no answer", async () => {
        const { trailer } = alice.knock(22);
        const tampered = trailer.slice();
        tampered[20]! ^= 0x40;
        equal(
          await exchange(topo, "client", { src: CLIENT, dst: SERVER, payload: tampered }),
          undefined,
        );
        equal(await connect(topo, "client", SERVER, 22), "timeout");
      });

      let sniffedKnock: Uint8Array = new Uint8Array(0);
      await t.step("a valid knock is acked and opens tcp/22 for the client only", async () => {
        const { trailer, next } = alice.knock(22);
        sniffedKnock = trailer;
        sent.push(trailer);
        const answer = await exchange(topo, "client", {
          src: CLIENT,
          dst: SERVER,
          payload: trailer,
        });
        const ack = alice.accept(answer, { trailer, next }, "no ack");
        equal(ack.kind, "ack");
        equal(await connect(topo, "client", SERVER, 22), "connected");
        equal(
          await connect(topo, "client", SERVER, 2222),
          "timeout",
          "another protected port stays closed",
        );
        equal(
          await connect(topo, "attacker", SERVER, 22),
          "timeout",
          "another address stays closed",
        );
        ok(await exists(`${marks}/opened`), "on_open ran");
        await server.waitFor(/ accept user=alice address=10\.77\.0\.2 port=tcp\/22/);
      });

      await sniffer.stop();

      await t.step("the attacker replaying the captured knock opens nothing", async () => {
        // From its own address: refused (the knock was used); no answer; port stays closed to it.
        const match = hex(sniffedKnock);
        equal(await replay(topo, "attacker", pcap, match, ATTACKER), "sent");
        equal(await connect(topo, "attacker", SERVER, 22), "timeout");
        // Spoofing the client's address: at most the client's own grant is refreshed.
        equal(await replay(topo, "attacker", pcap, match), "sent");
        equal(await connect(topo, "attacker", SERVER, 22), "timeout");
        const grants = await nftGrants(topo);
        equal(grants.length, 1, `one grant expected: ${grants}`);
        ok(grants[0]!.includes(CLIENT));
      });

      await t.step("a connection that keeps sending stays open past the idle timeout", async () => {
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        // 7 s of traffic every 500 ms, against a 3 s idle timeout.
        equal(
          await tool(
            topo,
            "client",
            "hold",
            "--host",
            SERVER,
            "--port",
            "22",
            "--interval",
            "500",
            "--duration",
            "7000",
          ),
          "ok 14",
        );
      });

      await t.step("lack of traffic closes the port in the kernel and runs on_close", async () => {
        await sleep(4000);
        equal(await connect(topo, "client", SERVER, 22), "timeout");
        await server.waitFor(
          / close user=alice address=10\.77\.0\.2 port=tcp\/22 reason=idle/,
          5000,
        );
        await server.waitFor(/command-done command=on_close/, 5000);
        ok(await exists(`${marks}/closed`), "on_close ran");
      });

      await t.step("status reports grants and reject counters", async () => {
        const status = await readStatus(setup.stateDir);
        ok(status !== undefined);
        // Exactly the tampered knock: the daemon does not capture (and re-verify) its own acks.
        equal(status.counters.tag, 1, "the tampered knock was counted, and nothing else");
        ok(status.counters.replay + status.counters.retransmit >= 1, "the replays were counted");
      });

      await t.step(
        "spa-server status (run beside the daemon) lists the grant and the counters",
        async () => {
          const { trailer, next } = alice.knock(22);
          sent.push(trailer);
          const answer = await exchange(topo, "client", {
            src: CLIENT,
            dst: SERVER,
            payload: trailer,
          });
          alice.accept(answer, { trailer, next });
          await sleep(1200); // the daemon rewrites its status file at least every second while a grant is open
          const json = await topo.exec(
            "server",
            serverArgv(setup, "status", "--config", setup.configPath, "--json"),
          );
          equal(json.code, 0, json.stderr);
          const status = JSON.parse(json.stdout);
          equal(status.running, true);
          equal(status.grants.length, 1);
          equal(status.grants[0].address, CLIENT);
          equal(status.grants[0].user, "alice");
          ok(status.grants[0].expiresInMs > 0);
          const text = await topo.exec(
            "server",
            serverArgv(setup, "status", "--config", setup.configPath),
          );
          equal(text.code, 0);
          match(text.stdout, /alice\s+10\.77\.0\.2\s+tcp\/22/);
          match(text.stdout, /tag\s+1/);
        },
      );

      await t.step("SIGHUP reloads the config and keeps live grants", async () => {
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        await Deno.writeTextFile(
          setup.configPath,
          (await Deno.readTextFile(setup.configPath)).replace(
            'idle_timeout = "3s"',
            'idle_timeout = "4s"',
          ),
        );
        server.kill("SIGHUP");
        await server.waitFor(/ reload /);
        equal((await nftGrants(topo)).length, 1);
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });

      await t.step("a bad config on SIGHUP is refused and the old one kept", async () => {
        await Deno.writeTextFile(
          setup.configPath,
          (await Deno.readTextFile(setup.configPath)) + "\nbogus_key = 1\n",
        );
        server.kill("SIGHUP");
        await server.waitFor(/ reload-refused /);
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });

      await t.step(
        "SIGTERM closes every grant, runs on_close, keeps the port closed, exits 0",
        async () => {
          await Deno.remove(`${marks}/closed`);
          server.kill("SIGTERM");
          const status = await server.exited;
          equal(status.code, 0);
          deepStrictEqual(await nftGrants(topo), []);
          equal(await connect(topo, "client", SERVER, 22), "timeout");
          ok(await exists(`${marks}/closed`), "on_close ran at shutdown");
        },
      );

      await t.step("no log line holds the secret or a trailer", () => {
        const secret = setup.users[0]!.secret;
        const forbidden = [
          hex(secret),
          btoa(String.fromCharCode(...secret)),
          ...sent.map((t) => hex(t)),
          ...sent.map((t) => hex(t.subarray(5))),
        ];
        const log = server.lines.join("\n").toLowerCase();
        ok(server.lines.length > 10);
        for (const needle of forbidden) {
          ok(!log.includes(needle.toLowerCase()), `the log shows ${needle}`);
        }
      });
    } finally {
      await Deno.remove(marks, { recursive: true });
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server: after kill -9 the kernel closes the grant on time; a restart keeps the sequence",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [{ uid: 7, name: "bob", ports: ["tcp/22"] }],
      idleTimeout: "3s",
    });
    await startEcho(topo, "server", 22);
    const bob = new Knocker(setup.users[0]!);
    try {
      const first = await startServer(topo, setup);
      const old = bob.sequence;
      await t.step(
        "knock, then kill -9: the grant lives on, then expires in the kernel",
        async () => {
          await knockIn(topo, "client", bob, { src: CLIENT, dst: SERVER });
          first.kill("SIGKILL");
          await first.exited;
          equal(await connect(topo, "client", SERVER, 22), "connected");
          await sleep(4000);
          equal(await connect(topo, "client", SERVER, 22), "timeout");
        },
      );
      const second = await startServer(topo, setup);
      await t.step("after a restart the old number is refused and the new one works", async () => {
        const stale = new Knocker({ ...setup.users[0]!, sequence: old });
        const { trailer } = stale.knock(22);
        equal(
          await exchange(topo, "client", { src: CLIENT, dst: SERVER, payload: trailer }),
          undefined,
        );
        const fresh = bob.knock(22);
        const answer = await exchange(topo, "client", {
          src: CLIENT,
          dst: SERVER,
          payload: fresh.trailer,
        });
        bob.accept(answer, fresh);
        equal(await connect(topo, "client", SERVER, 22), "connected");
      });
      second.kill("SIGTERM");
      equal((await second.exited).code, 0);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest("spa-server: IPv6 and UDP knocks, source binding, stale knocks", async (t) => {
  await using topo = await createTopology(["server", "client", "attacker"]);
  const setup = await writeServerSetup({
    users: [
      { uid: 1000, name: "alice", ports: ["tcp/22"] },
      { uid: 2000, name: "carol", ports: ["tcp/22"], requireSourceBinding: true },
    ],
    idleTimeout: "30s",
  });
  await startEcho(topo, "server", 22);
  const server = await startServer(topo, setup);
  const alice = new Knocker(setup.users[0]!);
  const carol = new Knocker(setup.users[1]!);
  try {
    await t.step("a knock over IPv6 opens the port for the IPv6 address", async () => {
      await knockIn(topo, "client", alice, { src: "fd77::2", dst: "fd77::1" });
      equal(await connect(topo, "client", "fd77::1", 22), "connected");
      equal(
        await connect(topo, "client", SERVER, 22),
        "timeout",
        "the IPv4 address was not granted",
      );
    });

    await t.step(
      "a UDP knock (with random padding before the trailer) is answered with a datagram",
      async () => {
        const { trailer, next } = alice.knock(22);
        const padded = new Uint8Array([...crypto.getRandomValues(new Uint8Array(100)), ...trailer]);
        const answer = await exchange(topo, "client", {
          src: CLIENT,
          dst: SERVER,
          proto: "udp",
          payload: padded,
        });
        alice.accept(answer, { trailer, next }, "no ack over UDP");
        equal(await connect(topo, "client", SERVER, 22), "connected");
      },
    );

    await t.step("a user who must bind: unbound knocks are refused, bound ones work", async () => {
      const unbound = carol.knock(22);
      equal(
        await exchange(topo, "attacker", { src: ATTACKER, dst: SERVER, payload: unbound.trailer }),
        undefined,
      );
      await server.waitFor(/refused user=carol .*not bound/);
      const bound = carol.knock(22, "tcp", { bindTo: new Uint8Array([10, 77, 0, 3]) });
      const answer = await exchange(topo, "attacker", {
        src: ATTACKER,
        dst: SERVER,
        payload: bound.trailer,
      });
      carol.accept(answer, bound);
    });

    await t.step("a bound knock sent from another address is refused (binding)", async () => {
      const bound = carol.knock(22, "tcp", { bindTo: new Uint8Array([10, 77, 0, 3]) });
      equal(
        await exchange(topo, "client", { src: CLIENT, dst: SERVER, payload: bound.trailer }),
        undefined,
      );
      await server.waitFor(/refused user=carol address=10\.77\.0\.2 kind=knock reason=binding/);
    });

    await t.step("a stale knock (timestamp 10 minutes old) is refused", async () => {
      const old = alice.knock(22, "tcp", { timestamp: Math.floor(Date.now() / 1000) - 600 });
      await send(topo, "attacker", { src: ATTACKER, dst: SERVER, payload: old.trailer });
      await server.waitFor(/refused user=alice address=10\.77\.0\.3 kind=knock reason=stale/);
    });

    await t.step("junk with a valid UID and a forged tag gets no answer", async () => {
      const junk = crypto.getRandomValues(new Uint8Array(37));
      junk.set([0, 0, 0, 3, 232]);
      equal(
        await exchange(topo, "attacker", {
          src: ATTACKER,
          dst: SERVER,
          payload: junk,
          timeoutMs: 1000,
        }),
        undefined,
      );
    });
  } finally {
    server.kill("SIGTERM");
    await server.exited;
    await Deno.remove(setup.dir, { recursive: true });
  }
});
