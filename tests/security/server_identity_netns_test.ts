/**
 * Issue 13, item 1, with the real binaries: the same key file on two servers, the client knocks
 * server 1 (`--bind-source none`, as behind a NAT), an attacker on the hub records the knock (and
 * the check and resync that follow) and sends each one, rewritten to server 2's address and his
 * own source, within the age window. Every input of the key schedule but the server is held equal
 * (same secret, uid, initial sequence number, clock; each packet is replayed right after it was
 * sent, so server 2 expects exactly the number it is keyed by). Protocol 2 derives every key for
 * the server's `server_id`, so server 2 opens nothing and changes no state.
 *
 * The rewriting is done with scapy (python3-scapy) on the recorded frames when it is installed,
 * else with the harness's packet tool from the recorded trailers.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { readStatus } from "../../lib/server/status.ts";
import { capturedTrailers, startSniffer } from "../../harness/pcap_file.ts";
import { connect, Knocker, send, sleep, startEcho, unhex } from "../../harness/knocker.ts";
import {
  type ServerProcess,
  type ServerSetup,
  startServer,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { makeClientHome } from "../e2e/_client_home.ts";
import { deriveMessageKey, deriveServerKey } from "../../lib/protocol/key_schedule.ts";
import { sealTrailer } from "../../lib/protocol/seal.ts";

const SERVER1 = "10.77.0.1";
const SERVER2 = "10.77.0.2";
const CLIENT = "10.77.0.3";
const ATTACKER = "10.77.0.4";
const FAST = ["--timeout", "500ms", "--retries", "3", "--bind-source", "none"];

/** A Python that has scapy (Debian's, when another python3 comes first on PATH), or undefined. */
async function scapyPython(): Promise<string | undefined> {
  for (const python of ["python3", "/usr/bin/python3"]) {
    try {
      const out = await new Deno.Command(python, { args: ["-c", "import scapy.all"] }).output();
      if (out.success) return python;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Resends every TCP/UDP frame of `pcap` from the attacker host with new addresses (scapy). */
const SCAPY_REWRITE = `
import sys
from scapy.all import rdpcap, send, IP, TCP, UDP
path, src, dst = sys.argv[1:4]
n = 0
for frame in rdpcap(path):
    if IP not in frame:
        continue
    pkt = frame[IP].copy()
    pkt.src, pkt.dst = src, dst
    del pkt.chksum
    if TCP in pkt:
        del pkt[TCP].chksum
    if UDP in pkt:
        del pkt[UDP].chksum
    send(pkt, verbose=False)
    n += 1
print(n)
`;

/**
 * Sends what the attacker recorded in `pcap` to `dst` from `src`; returns how many of the packets
 * sent carry a candidate trailer (the others are the client's bare RSTs).
 */
async function replayRewritten(
  topo: Topology,
  pcap: string,
  src: string,
  dst: string,
  scapy: string | undefined,
): Promise<number> {
  const packets = await capturedTrailers(pcap);
  if (scapy !== undefined) {
    const out = await topo.execOk("attacker", [scapy, "-c", SCAPY_REWRITE, pcap, src, dst]);
    if (Number(out.trim()) < packets.length) throw new Error("Cannot replay every packet");
    return packets.length;
  }
  for (const p of packets) {
    await send(topo, "attacker", {
      src,
      dst,
      proto: p.protocol === 6 ? "tcp" : "udp",
      payload: unhex(p.tail),
    });
  }
  return packets.length;
}

/**
 * Makes the hub deliver to `role`'s port only frames for that host's address (and ARP), as a
 * switch between two sites would: without it the hub floods the client's knock for server 1 to
 * server 2 as well, and server 2 (on protocol 1) would accept it straight off the wire.
 */
async function isolate(topo: Topology, role: string, index: number): Promise<void> {
  const hub = async (args: string[]) => {
    const out = await new Deno.Command("ip", { args: ["netns", "exec", topo.hubNs, ...args] })
      .output();
    const text = new TextDecoder().decode(out.stdout);
    if (!out.success) throw new Error(`Cannot isolate ${role}: ${args.join(" ")} failed`);
    return text;
  };
  const links = await hub(["ip", "-o", "link", "show"]);
  const port = links.split("\n").map((l) => /^\d+: ([^@:]+)/.exec(l)?.[1])
    .find((name) => name !== undefined && name.endsWith(`y${index}`));
  if (port === undefined) throw new Error(`Cannot find the hub port of ${role}`);
  const own = topo.host(role).ipv4;
  await hub([
    "nft",
    `add table bridge isolate; add chain bridge isolate forward { type filter hook forward ` +
    `priority 0; }; add rule bridge isolate forward oifname "${port}" ip daddr != ${own} drop`,
  ]);
}

async function userState(setup: ServerSetup): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(`${setup.stateDir}/users/1000.json`)).sequence;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

async function nftElements(topo: Topology, host: string): Promise<string[]> {
  const out = await topo.execOk(host, ["nft", "-j", "list", "table", "inet", "spa"]);
  const elements: string[] = [];
  for (const item of JSON.parse(out).nftables as { set?: { elem?: unknown[] } }[]) {
    for (const elem of item.set?.elem ?? []) elements.push(JSON.stringify(elem));
  }
  return elements;
}

/** Waits until server 2's status file counts at least `n` tag failures; returns the count. */
async function tagFailures(setup: ServerSetup, n: number): Promise<number> {
  const deadline = Date.now() + 8_000;
  let seen = 0;
  while (Date.now() < deadline) {
    const counters = (await readStatus(setup.stateDir).catch(() => undefined))?.counters;
    seen = counters?.tag ?? 0;
    if (seen >= n) return seen;
    await sleep(250);
  }
  return seen;
}

for (const provisioned of [false, true]) {
  const keys = provisioned
    ? "each server holding only its provisioned key"
    : "the same key file on both servers";
  netnsTest(
    `server identity: a knock, check and resync recorded for server 1 open and change nothing at server 2 (${keys})`,
    async (t) => {
      const scapy = await scapyPython();
      if (scapy === undefined) {
        console.error("note: python3-scapy missing; rewriting with the packet tool");
      }
      await using topo = await createTopology(["server1", "server2", "client", "attacker"]);
      const user = {
        uid: 1000,
        name: "alice",
        ports: ["tcp/22"],
        secret: crypto.getRandomValues(new Uint8Array(32)),
        sequence: crypto.getRandomValues(new Uint32Array(1))[0]! || 1,
      };
      const setup1 = await writeServerSetup({ users: [user], serverId: "web1", provisioned });
      const setup2 = await writeServerSetup({ users: [user], serverId: "web2", provisioned });
      if (!provisioned) {
        equal(
          await Deno.readTextFile(`${setup1.configDir}/keys/alice.key`),
          await Deno.readTextFile(`${setup2.configDir}/keys/alice.key`),
          "both servers hold the same key file",
        );
      }
      await using home = await makeClientHome(setup1, [{
        name: "web1",
        address: SERVER1,
        user: "alice",
        port: 22,
        transport: "syn",
      }]);
      const servers: ServerProcess[] = [];
      try {
        await isolate(topo, "server2", 1);
        for (const host of ["server1", "server2"]) await startEcho(topo, host, 22);
        servers.push(await startServer(topo, setup1, { host: "server1" }));
        servers.push(await startServer(topo, setup2, { host: "server2" }));
        const server2 = servers[1]!;
        const before = await userState(setup2);
        let replayed = 0;

        const attack = async (name: string, args: string[]) => {
          const pcap = `${setup1.dir}/${name}.pcap`;
          const sniffer = await startSniffer(
            topo,
            "attacker",
            pcap,
            `dst host ${SERVER1} and (tcp or udp)`,
          );
          const run = await home.run(topo, args);
          equal(run.code, 0, `${name} at server 1: ${run.stderr}`);
          await sleep(200);
          await sniffer.stop();
          const sent = await replayRewritten(topo, pcap, ATTACKER, SERVER2, scapy);
          ok(sent >= 1, `the attacker recorded the ${name}`);
          replayed += sent;
          // The same from the client's own address (a spoofer on the client's network).
          replayed += await replayRewritten(topo, pcap, CLIENT, SERVER2, scapy);
          await sleep(300);
        };

        await t.step("the client knocks server 1; the knock sent on to server 2", async () => {
          await attack("knock", ["--host", "web1", "--port", "22", "--no-exec", ...FAST]);
          equal(await connect(topo, "client", SERVER1, 22), "connected", "server 1 opened");
          equal(await connect(topo, "attacker", SERVER2, 22), "timeout", "server 2 is closed");
        });
        await t.step("a check, then a resync, sent on the same way", async () => {
          await attack("check", ["check", "--host", "web1", ...FAST]);
          await attack("resync", ["resync", "--host", "web1", ...FAST]);
        });
        await t.step("server 2 accepted nothing, opened nothing, kept its state", async () => {
          equal(await connect(topo, "attacker", SERVER2, 22), "timeout");
          equal(await connect(topo, "client", SERVER2, 22), "timeout");
          deepStrictEqual(await nftElements(topo, "server2"), []);
          const authentic = server2.lines.filter((l) =>
            / (accept|resync|check|retransmit|clock-skew|refused) /.test(l)
          );
          deepStrictEqual(authentic, [], "server 2 found no authentic packet");
          deepStrictEqual(await userState(setup2), before);
          console.error(
            `  replayed ${replayed} trailers to server 2 with ${scapy ?? "the packet tool"}`,
          );
          ok(
            (await tagFailures(setup2, replayed)) >= replayed,
            `server 2 saw all ${replayed} replayed trailers and each failed its tag`,
          );
        });
        if (provisioned) {
          await t.step(
            "a thief of server 1's key file cannot knock on server 2 either",
            async () => {
              const stolen = deriveServerKey(user.secret, "web1");
              const now = Math.floor(Date.now() / 1000);
              const body = { kind: "knock", protocol: "tcp", port: 22, timestamp: now } as const;
              const forged = [
                // The stolen key used as it is, and as if it were the user's key, for web2.
                sealTrailer(deriveMessageKey(stolen, user.uid, "knock", user.sequence), {
                  ...body,
                  next: 7,
                }),
                new Knocker({ ...user, secret: stolen, serverId: "web2" }).knock(22).trailer,
              ];
              for (const payload of forged) {
                await send(topo, "attacker", { src: ATTACKER, dst: SERVER2, payload });
              }
              await sleep(300);
              equal(await connect(topo, "attacker", SERVER2, 22), "timeout");
              deepStrictEqual(await nftElements(topo, "server2"), []);
            },
          );
        }
      } finally {
        for (const server of servers) {
          server.kill("SIGTERM");
          await server.exited;
        }
        await Deno.remove(setup1.dir, { recursive: true });
        await Deno.remove(setup2.dir, { recursive: true });
      }
    },
  );
}
