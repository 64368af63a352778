/**
 * Root tests in two namespaces: packets sent with `RawSocket` in one are captured by `Capture` in
 * the other, byte for byte; several captures at once; closing frees everything and wakes a wait;
 * and both work under the exact permission flags `spa-server` ships with.
 */

import { deepStrictEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import { catchError, inNamespace, openFds, processCpuSeconds } from "./_helpers.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { Capture } from "../../ffi/pcap.ts";
import { RawSocket } from "../../ffi/raw_socket.ts";
import { SystemError } from "../../ffi/libc.ts";
import { serverFlags } from "../../lib/permissions.ts";
import { encodeTcpPacket, encodeUdpPacket, parseAddress, TCP_SYN } from "../../lib/packet/mod.ts";

const ETHERNET = 1;
const TRAILER = Uint8Array.from({ length: 37 }, (_, i) => 0xa0 + i);
const WAIT_MS = 5000;

function addresses(topo: Topology, family: 4 | 6) {
  const key = family === 4 ? "ipv4" : "ipv6";
  return {
    source: parseAddress(topo.host("client")[key])!,
    destination: parseAddress(topo.host("server")[key])!,
  };
}

/** Collects copies of captured frames until `done(frames)` or the time bound. */
async function captureUntil(
  capture: Capture,
  done: (frames: Uint8Array[]) => boolean,
  send: () => void,
): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), WAIT_MS);
  const running = capture.run((frame, length) => {
    frames.push(frame.slice(0, length));
    if (done(frames)) stop.abort();
  }, stop.signal);
  send();
  await running;
  clearTimeout(timer);
  return frames;
}

function endsWith(frame: Uint8Array, packet: Uint8Array): boolean {
  if (frame.length < packet.length) return false;
  const tail = frame.subarray(frame.length - packet.length);
  return tail.every((byte, i) => byte === packet[i]);
}

netnsTest("RawSocket packets are captured by Capture byte for byte, without drops", async () => {
  await using topo = await createTopology(["server", "client"]);
  const before = openFds();
  const v4 = addresses(topo, 4);
  const v6 = addresses(topo, 6);
  const packets = [
    encodeTcpPacket({
      ...v4,
      sourcePort: 40001,
      destinationPort: 22,
      sequence: 0x01020304,
      flags: TCP_SYN,
      payload: TRAILER,
      identification: 0x1234,
    }),
    encodeUdpPacket({
      ...v4,
      sourcePort: 40002,
      destinationPort: 62201,
      payload: TRAILER,
      identification: 0x1235,
    }),
    encodeUdpPacket({ ...v6, sourcePort: 40003, destinationPort: 62201, payload: TRAILER }),
  ];
  const capture = inNamespace(topo.host("server").ns, () => Capture.open("eth0"));
  const [raw4, raw6] = inNamespace(
    topo.host("client").ns,
    () => [RawSocket.open(4), RawSocket.open(6)] as const,
  );
  equal(capture.linkType, ETHERNET);
  const wanted = (frame: Uint8Array, packet: Uint8Array) =>
    frame.length === 14 + packet.length && endsWith(frame, packet);
  const frames = await captureUntil(
    capture,
    (frames) => packets.every((p) => frames.some((f) => wanted(f, p))),
    () => {
      raw4.send(packets[0]!, v4.destination);
      raw4.send(packets[1]!, v4.destination);
      raw6.send(packets[2]!, v6.destination);
    },
  );
  for (const [i, packet] of packets.entries()) {
    const frame = frames.find((f) => wanted(f, packet));
    assert(frame !== undefined, `packet ${i} was not captured byte for byte`);
    assertEquals([...frame.subarray(0, 6)], [2, 0x77, 0, 0, 0, 1]); // to the server's MAC
    assertEquals([...frame.subarray(12, 14)], i < 2 ? [0x08, 0x00] : [0x86, 0xdd]);
  }
  const stats = capture.stats();
  equal(stats.dropped, 0);
  equal(stats.ifDropped, 0);
  assert(!capture.closed, "stopping run() leaves the capture open");
  capture.close();
  raw4.close();
  raw6.close();
  raw6.close();
  assertEquals(openFds(), before);
});

netnsTest("Capture.stats reports no drops, and close() frees every descriptor", async () => {
  await using topo = await createTopology(["server", "client"]);
  const before = openFds();
  const v4 = addresses(topo, 4);
  const count = 200;
  const packet = (n: number) =>
    encodeUdpPacket({ ...v4, sourcePort: 40000, destinationPort: n, payload: TRAILER });
  {
    using capture = inNamespace(topo.host("server").ns, () => Capture.open("eth0"));
    using raw = inNamespace(topo.host("client").ns, () => RawSocket.open(4));
    capture.setFilter("udp and src port 40000");
    const frames = await captureUntil(capture, (frames) => frames.length === count, () => {
      for (let i = 0; i < count; i++) raw.send(packet(1000 + i), v4.destination);
    });
    equal(frames.length, count);
    const stats = capture.stats();
    assert(stats.received >= count, `received ${stats.received}`);
    equal(stats.dropped, 0);
    equal(stats.ifDropped, 0);
  }
  assertEquals(openFds(), before);
});

netnsTest("Capture.close wakes a pending wait at once, and an idle wait costs no CPU", async () => {
  await using topo = await createTopology(["server"]);
  const before = openFds();
  const capture = inNamespace(topo.host("server").ns, () => Capture.open("eth0"));
  capture.setFilter("udp port 1"); // nothing will match: the link is idle for this capture
  let packets = 0;
  const running = capture.run(() => packets++);
  const cpuBefore = processCpuSeconds();
  await new Promise((r) => setTimeout(r, 1000));
  const cpu = processCpuSeconds() - cpuBefore;
  // A busy loop would use ~1 s of CPU here; a wait in poll uses ~0.
  assert(cpu < 0.2, `an idle capture used ${cpu} s of CPU in 1 s`);
  const closing = performance.now();
  capture.close();
  capture.close();
  await running;
  const elapsed = performance.now() - closing;
  assert(elapsed < 500, `run() took ${elapsed} ms to end after close()`);
  equal(packets, 0);
  assertEquals(openFds(), before);
});

netnsTest("several captures run at once (an interface and any)", async () => {
  await using topo = await createTopology(["server", "client"]);
  const v4 = addresses(topo, 4);
  const packet = encodeUdpPacket({
    ...v4,
    sourcePort: 40004,
    destinationPort: 9,
    payload: TRAILER,
  });
  using eth0 = inNamespace(topo.host("server").ns, () => Capture.open("eth0"));
  using any = inNamespace(topo.host("server").ns, () => Capture.open("any"));
  using raw = inNamespace(topo.host("client").ns, () => RawSocket.open(4));
  equal(eth0.linkType, ETHERNET);
  assert(any.linkType === 113 || any.linkType === 276, `any gave link type ${any.linkType}`);
  const seen = (frames: Uint8Array[]) => frames.some((f) => endsWith(f, packet));
  const [fromEth0, fromAny] = await Promise.all([
    captureUntil(eth0, seen, () => {}),
    captureUntil(any, seen, () => raw.send(packet, v4.destination)),
  ]);
  assert(seen(fromEth0), "eth0 capture missed the packet");
  assert(seen(fromAny), "any capture missed the packet");
});

netnsTest("Capture and RawSocket work under the shipped spa-server permission flags", async () => {
  await using topo = await createTopology(["server", "client"]);
  const configDir = await Deno.makeTempDir();
  const stateDir = await Deno.makeTempDir();
  try {
    const flags = serverFlags({ configDir, stateDir, commands: [] });
    const child = new URL("./scoped_child.ts", import.meta.url).pathname;
    const client = topo.host("client");
    const result = await topo.exec("server", [
      Deno.execPath(),
      "run",
      ...flags,
      child,
      client.ipv4,
      client.ipv6,
    ]);
    equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assertEquals(report, {
      pointersRefused: "NotCapable",
      linkType: ETHERNET,
      sent4: true,
      sent6: true,
      captured4: true,
      captured6: true,
      dropped: 0,
    });
  } finally {
    await Deno.remove(configDir, { recursive: true });
    await Deno.remove(stateDir, { recursive: true });
  }
});

netnsTest("RawSocket.send reports a packet a local firewall rule drops", async () => {
  await using topo = await createTopology(["server", "client"]);
  await topo.execOk("client", [
    "nft",
    "add table inet t; add chain inet t out { type filter hook output priority 0; }; " +
    "add rule inet t out udp dport 9999 drop",
  ]);
  const v4 = addresses(topo, 4);
  using raw = inNamespace(topo.host("client").ns, () => RawSocket.open(4));
  const packet = (port: number) =>
    encodeUdpPacket({ ...v4, sourcePort: 40006, destinationPort: port, payload: TRAILER });
  raw.send(packet(9998), v4.destination);
  const error = catchError(() => raw.send(packet(9999), v4.destination), SystemError);
  equal(error.code, "EPERM");
  equal(error.message, "Cannot send packet: a firewall rule refused it (EPERM)");
});
