/**
 * spa-client against a real spa-server protecting a real OpenSSH server, in namespaces (root):
 * ssh fails before the knock and succeeds through `spa-client ... -- ssh`, over both transports,
 * IPv4 and IPv6; knocks in a row and at once stay in sync; an attacker on the same segment who
 * captured the client's knocks gets nothing from replaying them.
 */

import { deepStrictEqual, equal, match } from "node:assert/strict";
import { DLT_EN10MB, IPPROTO_UDP, TCP_SYN } from "../../lib/packet/constants.ts";
import { decodeFrame } from "../../lib/packet/decode.ts";
import { PacketView } from "../../lib/packet/view.ts";
import { TRAILER_LENGTH } from "../../lib/protocol/constants.ts";
import { connect, exchange, hex, replay, sleep } from "../../harness/knocker.ts";
import { ALICE, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { startSniffer } from "../../harness/pcap_file.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { makeClientHome } from "./_client_home.ts";
import { startSshd } from "./_sshd.ts";

const SERVER4 = "10.77.0.1";
const SERVER6 = "fd77::1";
const ATTACKER4 = "10.77.0.4";
const ATTACKER6 = "fd77::4";

/** The payloads (IP version, protocol, payload) of the knocks in a tcpdump file of an Ethernet link. */
async function capturedKnocks(
  path: string,
): Promise<{ v6: boolean; udp: boolean; payload: Uint8Array }[]> {
  const data = await Deno.readFile(path);
  const view = new DataView(data.buffer);
  const little = view.getUint32(0, true) === 0xa1b2c3d4;
  equal(view.getUint32(20, little), DLT_EN10MB);
  const packet = new PacketView();
  const knocks: { v6: boolean; udp: boolean; payload: Uint8Array }[] = [];
  for (let offset = 24; offset + 16 <= data.length;) {
    const length = view.getUint32(offset + 8, little);
    const frame = data.subarray(offset + 16, offset + 16 + length);
    offset += 16 + length;
    if (decodeFrame(DLT_EN10MB, frame, frame.length, packet) !== "ok") continue;
    if (packet.destinationPort !== 22 || packet.payloadLength < TRAILER_LENGTH) continue;
    const udp = packet.protocol === IPPROTO_UDP;
    if (!udp && (packet.tcpFlags & TCP_SYN) === 0) continue; // ssh's own data
    knocks.push({
      v6: packet.family === 6,
      udp,
      payload: packet.payload(frame).slice(),
    });
  }
  return knocks;
}

async function serverSequence(stateDir: string, uid: number): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(`${stateDir}/users/${uid}.json`)).sequence;
}

async function sshFails(topo: Topology, host: string, args: string[]): Promise<void> {
  const result = await topo.exec(host, args);
  equal(result.code, 255, `ssh should fail before the knock: ${result.stderr}`);
}

netnsTest(
  "spa-client: ssh through spa-server over syn and udp, IPv4 and IPv6; replays get nothing",
  async (t) => {
    await using topo = await createTopology(["server", "client", "client2", "attacker"]);
    const setup = await writeServerSetup({
      users: [
        { uid: 1000, name: "alice", ports: ["tcp/22"] },
        { uid: 1001, name: "bob", ports: ["tcp/22"] },
      ],
    });
    await using home = await makeClientHome(setup, [
      { name: "web4", address: SERVER4, user: "alice", port: 22 },
      { name: "web6", address: SERVER6, user: "bob", port: 22 },
    ]);
    try {
      const sshd = await startSshd(topo, setup.dir);
      await startServer(topo, setup);
      const pcap = `${setup.dir}/sniffed.pcap`;
      const sniffer = await startSniffer(topo, "attacker", pcap, "dst port 22");

      // Each client host knocks with one transport, so every step starts with the port closed.
      const cases = [
        { host: "client", transport: "syn", name: "web4", address: SERVER4 },
        { host: "client", transport: "syn", name: "web6", address: SERVER6 },
        { host: "client2", transport: "udp", name: "web4", address: SERVER4 },
        { host: "client2", transport: "udp", name: "web6", address: SERVER6 },
      ];
      for (const c of cases) {
        await t.step(`${c.transport} over IPv${c.address === SERVER4 ? 4 : 6}`, async () => {
          await sshFails(topo, c.host, sshd.sshArgs(c.address));
          const run = await home.run(topo, [
            "--host",
            c.name,
            "--port",
            "22",
            "--transport",
            c.transport,
            "--",
            ...sshd.sshArgs("{address}", ["echo", "in via {host}"]),
          ], c.host);
          equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
          equal(run.stdout, `in via ${c.name}\n`);
          equal(run.stderr, "");
        });
      }

      // tcpdump may lose what it has not written when it is stopped: wait for the four knocks.
      const kinds = async () =>
        (await capturedKnocks(pcap)).map((k) => `${k.udp ? "udp" : "tcp"}${k.v6 ? 6 : 4}`).sort();
      for (let i = 0; i < 50 && (await kinds()).length < cases.length; i++) await sleep(100);
      await sniffer.stop();

      await t.step("the attacker replaying every captured knock gets nothing", async () => {
        const knocks = await capturedKnocks(pcap);
        deepStrictEqual(await kinds(), ["tcp4", "tcp6", "udp4", "udp6"]);
        for (const knock of knocks) {
          const src = knock.v6 ? ATTACKER6 : ATTACKER4;
          const dst = knock.v6 ? SERVER6 : SERVER4;
          // From its own address, as a SYN and as a datagram: no answer.
          for (const proto of ["tcp", "udp"] as const) {
            const answer = await exchange(topo, "attacker", {
              src,
              dst,
              proto,
              payload: knock.payload,
              timeoutMs: 700,
            });
            equal(answer, undefined, `the ${proto} replay was answered`);
          }
          // The exact packet again, from its own address.
          const trailer = hex(knock.payload.subarray(knock.payload.length - TRAILER_LENGTH));
          equal(await replay(topo, "attacker", pcap, trailer, src), "sent");
          equal(await connect(topo, "attacker", dst, 22), "timeout");
        }
      });
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest("spa-client: 50 knocks in a row and two clients at once stay in sync", async (t) => {
  await using topo = await createTopology(["server", "client"]);
  const setup = await writeServerSetup({ users: [ALICE] });
  await using home = await makeClientHome(setup, [
    { name: "web", address: SERVER4, user: "alice", port: 22 },
  ]);
  try {
    await startServer(topo, setup);
    await t.step("50 knocks in a row, alternating transports", async () => {
      for (let i = 0; i < 50; i++) {
        const transport = i % 2 === 0 ? "syn" : "udp";
        const run = await home.run(topo, ["--host", "web", "--transport", transport, "--json"]);
        equal(run.code, 0, `knock ${i + 1} (${transport}): ${run.stderr}`);
        const report = JSON.parse(run.stdout);
        equal(report.attempts, 1, `knock ${i + 1} needed a retry`);
      }
      deepStrictEqual(await home.state("web"), await serverSequence(setup.stateDir, 1000));
    });

    await t.step("two clients started at once for the same user", async () => {
      for (let round = 0; round < 3; round++) {
        const children = [
          home.spawn(topo, ["--host", "web", "--transport", "syn"]),
          home.spawn(topo, ["--host", "web", "--transport", "udp"]),
        ];
        for (const child of children) {
          const out = await child.output();
          equal(out.code, 0, new TextDecoder().decode(out.stderr));
        }
      }
      const check = await home.run(topo, ["check", "--host", "web"]);
      equal(check.code, 0, `the check found the host out of sync: ${check.stderr}`);
      deepStrictEqual(await home.state("web"), await serverSequence(setup.stateDir, 1000));
    });

    await t.step("a knock for a port the user may not open gets no ack, and says why", async () => {
      const run = await home.run(topo, [
        "--host",
        "web",
        "--port",
        "2222",
        "--retries",
        "0",
        "--timeout",
        "500ms",
      ]);
      equal(run.code, 1);
      // It resynced by itself; the answered resync proves key, clock and route right.
      match(run.stderr, /10\.77\.0\.1 answered a resync .* for tcp\/2222: .* not allowed/);
    });
  } finally {
    await Deno.remove(setup.dir, { recursive: true });
  }
});
