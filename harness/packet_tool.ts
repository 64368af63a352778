/**
 * A small packet tool the namespace tests run inside a host (`ip netns exec NS deno run -A
 * harness/packet_tool.ts ...`), since a test process cannot enter a namespace itself. It plays
 * the client and the attacker in server tests: exact packets, spoofed sources, replays.
 *
 *   send     --src A --dst B --proto tcp|udp --sport N --dport N --payload HEX
 *            a raw SYN (tcp) or datagram (udp), any source address (spoofing included)
 *   send-many  same options, but --payloads FILE: one hex payload per line, each sent as its own
 *            packet (one process for a whole replay run)
 *   exchange same options plus --timeout MS: send, then print the payload of the first answer
 *            (a RST or datagram from B:dport to A:sport) as hex, or "timeout"; with --rtt,
 *            followed by the milliseconds from send to answer
 *   replay   --pcap FILE --match HEX [--src A]
 *            re-send the first IP packet of a pcap (made by tcpdump) whose payload ends with HEX,
 *            optionally from another source
 *   connect  --host B --port N --timeout MS   a TCP connect: prints "connected", "refused" or "timeout"
 *   hold     --host B --port N --interval MS --duration MS   one TCP connection that sends a line
 *            every interval and reads its echo: prints "ok N" or "broken after N"
 *   echo     --port N     a TCP echo server on all addresses (the protected service)
 *
 * Exit code 0 unless the arguments are wrong (2) or an operation fails (1).
 */

import { Capture } from "../ffi/pcap.ts";
import { RawSocket } from "../ffi/raw_socket.ts";
import { formatAddress, parseAddress } from "../lib/packet/address.ts";
import { IPPROTO_TCP, IPPROTO_UDP, TCP_RST, TCP_SYN } from "../lib/packet/constants.ts";
import { decodeFrame } from "../lib/packet/decode.ts";
import { encodeTcpPacket, encodeUdpPacket } from "../lib/packet/encode.ts";
import { PacketView } from "../lib/packet/view.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i < 0 ? undefined : Deno.args[i + 1];
}
function need(name: string): string {
  const value = arg(name);
  if (value === undefined) {
    console.error(`packet_tool: missing --${name}`);
    Deno.exit(2);
  }
  return value;
}
function address(name: string): Uint8Array {
  const text = need(name);
  const bytes = parseAddress(text);
  if (bytes === undefined) {
    console.error(`packet_tool: --${name} ${text} is not an address`);
    Deno.exit(2);
  }
  return bytes;
}
const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (t: string) => new Uint8Array((t.match(/../g) ?? []).map((h) => parseInt(h, 16)));

function packetFor(
  src: Uint8Array,
  dst: Uint8Array,
  proto: string,
  sport: number,
  dport: number,
  payload: Uint8Array,
): Uint8Array {
  return proto === "tcp"
    ? encodeTcpPacket({
      source: src,
      destination: dst,
      sourcePort: sport,
      destinationPort: dport,
      sequence: crypto.getRandomValues(new Uint32Array(1))[0]!,
      acknowledgment: 0,
      flags: TCP_SYN,
      payload,
    })
    : encodeUdpPacket({
      source: src,
      destination: dst,
      sourcePort: sport,
      destinationPort: dport,
      payload,
    });
}

function buildPacket(): {
  packet: Uint8Array;
  dst: Uint8Array;
  sport: number;
  dport: number;
  proto: string;
} {
  const src = address("src");
  const dst = address("dst");
  const proto = need("proto");
  const sport = Number(need("sport"));
  const dport = Number(need("dport"));
  const packet = packetFor(src, dst, proto, sport, dport, unhex(arg("payload") ?? ""));
  return { packet, dst, sport, dport, proto };
}

function send(packet: Uint8Array, dst: Uint8Array): void {
  using socket = RawSocket.open(dst.length === 4 ? 4 : 6);
  socket.send(packet, dst);
}

async function exchange(): Promise<void> {
  const { packet, dst, sport, dport, proto } = buildPacket();
  const timeout = Number(arg("timeout") ?? "2000");
  const capture = Capture.open("any", {
    filter: `${proto} and src host ${
      formatAddress(dst)
    } and src port ${dport} and dst port ${sport}`,
  });
  const view = new PacketView();
  let answer: string | undefined;
  const timer = setTimeout(() => capture.close(), timeout);
  const wanted = proto === "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
  const done = capture.run((frame, length) => {
    if (decodeFrame(capture.linkType, frame, length, view) !== "ok" || view.protocol !== wanted) {
      return;
    }
    if (proto === "tcp" && (view.tcpFlags & TCP_RST) === 0) return;
    if (view.payloadLength === 0) return;
    answer = hex(frame.subarray(view.payloadOffset, view.payloadOffset + view.payloadLength));
    capture.close();
  });
  const sent = performance.now();
  let answered = 0;
  const got = done.then(() => (answered = performance.now()));
  send(packet, dst);
  await got;
  clearTimeout(timer);
  // With --rtt: the answer, then the milliseconds from send to answer (benchmarks).
  const rtt = Deno.args.includes("--rtt") && answer !== undefined
    ? ` ${(answered - sent).toFixed(2)}`
    : "";
  console.log((answer ?? "timeout") + rtt);
}

async function replay(): Promise<void> {
  const data = await Deno.readFile(need("pcap"));
  const match = need("match");
  const view = new DataView(data.buffer);
  const little = view.getUint32(0, true) === 0xa1b2c3d4;
  const linkType = view.getUint32(20, little);
  let offset = 24;
  let n = 0;
  const packets: Uint8Array[] = [];
  while (offset + 16 <= data.length) {
    const caplen = view.getUint32(offset + 8, little);
    const frame = data.subarray(offset + 16, offset + 16 + caplen);
    offset += 16 + caplen;
    const pv = new PacketView();
    if (decodeFrame(linkType, frame, frame.length, pv) !== "ok") continue;
    n++;
    if (
      hex(frame.subarray(pv.payloadOffset, pv.payloadOffset + pv.payloadLength)).endsWith(match)
    ) {
      packets.push(frame.slice(pv.ipOffset, pv.ipOffset + pv.ipLength));
    }
  }
  const packet = packets[0];
  if (packet === undefined) {
    console.error(`packet_tool: none of the ${n} IP packets of the capture ends with that payload`);
    Deno.exit(1);
  }
  const ipv4 = (packet[0]! >> 4) === 4;
  const spoof = arg("src");
  if (spoof !== undefined) {
    const bytes = parseAddress(spoof)!;
    // Re-encode with the new source so every checksum stays right.
    const pv = new PacketView();
    decodeFrame(101, packet, packet.length, pv);
    const payload = packet.slice(pv.payloadOffset, pv.payloadOffset + pv.payloadLength);
    const dst = pv.destinationAddress(packet);
    const rebuilt = pv.protocol === IPPROTO_TCP
      ? encodeTcpPacket({
        source: bytes,
        destination: dst,
        sourcePort: pv.sourcePort,
        destinationPort: pv.destinationPort,
        sequence: pv.tcpSequence,
        acknowledgment: pv.tcpAcknowledgment,
        flags: pv.tcpFlags,
        payload,
      })
      : encodeUdpPacket({
        source: bytes,
        destination: dst,
        sourcePort: pv.sourcePort,
        destinationPort: pv.destinationPort,
        payload,
      });
    send(rebuilt, dst);
  } else {
    send(packet, ipv4 ? packet.slice(16, 20) : packet.slice(24, 40));
  }
  console.log("sent");
}

async function connect(): Promise<void> {
  const host = need("host");
  const port = Number(need("port"));
  const timeout = Number(arg("timeout") ?? "1000");
  const attempt = Deno.connect({ hostname: host, port }).then(
    (conn) => {
      conn.close();
      return "connected";
    },
    (
      error,
    ) => (error instanceof Deno.errors.ConnectionRefused ? "refused" : `error ${error.message}`),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<string>((
    resolve,
  ) => (timer = setTimeout(() => resolve("timeout"), timeout)));
  console.log(await Promise.race([attempt, timedOut]));
  clearTimeout(timer);
  Deno.exit(0);
}

async function hold(): Promise<void> {
  const host = need("host");
  const port = Number(need("port"));
  const interval = Number(arg("interval") ?? "500");
  const duration = Number(arg("duration") ?? "5000");
  const conn = await Deno.connect({ hostname: host, port });
  const buffer = new Uint8Array(64);
  const end = Date.now() + duration;
  let n = 0;
  while (Date.now() < end) {
    await conn.write(new TextEncoder().encode("ping\n"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const got = await Promise.race([
      conn.read(buffer),
      new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 1000))),
    ]);
    clearTimeout(timer);
    if (got === null) {
      console.log(`broken after ${n}`);
      Deno.exit(0);
    }
    n++;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  console.log(`ok ${n}`);
  Deno.exit(0);
}

async function echo(): Promise<void> {
  const port = Number(need("port"));
  const listener = Deno.listen({ hostname: "::", port });
  console.log("listening");
  for await (const conn of listener) {
    conn.readable.pipeTo(conn.writable).catch(() => {});
  }
}

const command = Deno.args[0];
switch (command) {
  case "send": {
    const { packet, dst } = buildPacket();
    send(packet, dst);
    console.log("sent");
    break;
  }
  case "send-many": {
    const lines = (await Deno.readTextFile(need("payloads"))).split("\n").filter((l) =>
      l.trim() !== ""
    );
    const src = address("src");
    const dst = address("dst");
    const proto = need("proto");
    const sport = Number(need("sport"));
    const dport = Number(need("dport"));
    using socket = RawSocket.open(dst.length === 4 ? 4 : 6);
    for (const line of lines) {
      socket.send(packetFor(src, dst, proto, sport, dport, unhex(line.trim())), dst);
    }
    console.log(`sent ${lines.length}`);
    break;
  }
  case "exchange":
    await exchange();
    break;
  case "replay":
    await replay();
    break;
  case "connect":
    await connect();
    break;
  case "hold":
    await hold();
    break;
  case "echo":
    await echo();
    break;
  default:
    console.error("usage: packet_tool.ts send|exchange|replay|connect|echo [options]");
    Deno.exit(2);
}
