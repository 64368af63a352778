import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_TCP_WINDOW,
  DEFAULT_TTL,
  encodeTcpPacket,
  encodeUdpPacket,
  LINKTYPE_RAW,
  parseAddress,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from "../../lib/packet/mod.ts";
import { writePcapBytes } from "./_pcap.ts";

const V4 = { source: parseAddress("10.77.0.2")!, destination: parseAddress("10.77.0.1")! };
const V6 = { source: parseAddress("fd77::2")!, destination: parseAddress("fd77::1")! };
const TRAILER = new Uint8Array(37).map((_, i) => i * 7);

function u16(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 8) | bytes[offset + 1]!;
}

/** A UDP datagram whose computed checksum is 0, so it must be sent as 0xffff. */
function zeroChecksumDatagram(addresses: typeof V4): Uint8Array {
  const payload = new Uint8Array(20).fill(0x5a);
  payload[0] = payload[1] = 0;
  const udp = addresses.source.length === 4 ? 20 : 40;
  const first = encodeUdpPacket({ ...addresses, sourcePort: 5, destinationPort: 6, payload });
  // Adding the first checksum as a payload word brings the sum to 0xffff: checksum 0.
  payload[0] = first[udp + 6]!;
  payload[1] = first[udp + 7]!;
  const datagram = encodeUdpPacket({ ...addresses, sourcePort: 5, destinationPort: 6, payload });
  equal(u16(datagram, udp + 6), 0xffff);
  return datagram;
}

/** Every kind of packet spa sends, plus edge cases and random ones. */
function packetKinds(): Uint8Array[] {
  const kinds: Uint8Array[] = [];
  for (const addresses of [V4, V6]) {
    const ports = { sourcePort: 40000, destinationPort: 22 };
    kinds.push(
      encodeTcpPacket({
        ...addresses,
        ...ports,
        sequence: 0x9abcdef0,
        flags: TCP_SYN,
        payload: TRAILER,
      }),
      encodeTcpPacket({
        ...addresses,
        sourcePort: 22,
        destinationPort: 40000,
        sequence: 0,
        acknowledgment: 0x9abcdef0 + 38,
        flags: TCP_RST | TCP_ACK,
        window: 0,
        payload: TRAILER,
      }),
      encodeUdpPacket({
        ...addresses,
        sourcePort: 40000,
        destinationPort: 62201,
        payload: TRAILER,
      }),
      encodeTcpPacket({
        ...addresses,
        ...ports,
        sequence: 1,
        flags: TCP_SYN,
        options: new Uint8Array([2, 4, 5, 0xb4, 1, 1, 4, 2]),
        payload: TRAILER.subarray(0, 33),
      }),
      encodeUdpPacket({ ...addresses, sourcePort: 1, destinationPort: 2 }),
      zeroChecksumDatagram(addresses),
    );
  }
  const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
  const address = fc.oneof(fc.tuple(bytes(4), bytes(4)), fc.tuple(bytes(16), bytes(16)));
  const port = fc.integer({ min: 0, max: 0xffff });
  const random = fc.tuple(
    address,
    port,
    port,
    fc.uint8Array({ maxLength: 300 }),
    fc.boolean(),
    fc.nat(0xffffffff),
    fc.nat(0xff),
  );
  for (
    const [[source, destination], sourcePort, destinationPort, payload, tcp, number, flags] of fc
      .sample(random, { numRuns: 200, seed: 42 })
  ) {
    kinds.push(
      tcp
        ? encodeTcpPacket({
          source,
          destination,
          sourcePort,
          destinationPort,
          sequence: number,
          acknowledgment: (number ^ 0x5555) >>> 0,
          flags,
          payload,
        })
        : encodeUdpPacket({ source, destination, sourcePort, destinationPort, payload }),
    );
  }
  return kinds;
}

async function toolMissing(tool: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(tool, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success ? undefined : `${tool} --version failed`;
  } catch {
    return `${tool} is not installed (Debian package ${tool})`;
  }
}

async function writeCapture(packets: Uint8Array[]): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".pcap" });
  await Deno.writeFile(file, writePcapBytes(LINKTYPE_RAW, packets));
  return file;
}

async function run(tool: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(tool, { args, stdout: "piped", stderr: "piped" }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  ok(out.success, `${tool} failed: ${stderr}`);
  return new TextDecoder().decode(out.stdout);
}

const tsharkMissing = await toolMissing("tshark");
const tcpdumpMissing = await toolMissing("tcpdump");
for (const reason of [tsharkMissing, tcpdumpMissing]) {
  if (reason !== undefined) console.error(`note: checksum check skipped: ${reason}`);
}

Deno.test({
  name: "encoded packets carry checksums tshark calls good",
  ignore: tsharkMissing !== undefined,
  async fn() {
    const packets = packetKinds();
    const file = await writeCapture(packets);
    try {
      const stdout = await run("tshark", [
        "-r",
        file,
        "-n",
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=,",
        "-e",
        "ip.checksum.status",
        "-e",
        "tcp.checksum.status",
        "-e",
        "udp.checksum.status",
      ]);
      const lines = stdout.trimEnd().split("\n");
      equal(lines.length, packets.length);
      for (const [i, packet] of packets.entries()) {
        const v4 = packet[0]! >> 4 === 4;
        const tcp = (v4 ? packet[9] : packet[6]) === 6;
        // 1 is "Good" (0 "Bad", 2 "Unverified").
        const expected = [v4 ? "1" : "", tcp ? "1" : "", tcp ? "" : "1"].join(",");
        equal(lines[i], expected, `packet ${i + 1}`);
      }
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test({
  name: "encoded packets carry checksums tcpdump -vv calls correct",
  ignore: tcpdumpMissing !== undefined,
  async fn() {
    const packets = packetKinds();
    const file = await writeCapture(packets);
    try {
      const stdout = await run("tcpdump", ["-vv", "-n", "-r", file]);
      const bad = /bad (udp )?cksum|\(incorrect/;
      ok(!bad.test(stdout), stdout.split("\n").find((line) => bad.test(line)));
      const good = stdout.match(/cksum 0x[0-9a-f]+ \(correct\)|\[udp sum ok\]/g) ?? [];
      equal(good.length, packets.length);
    } finally {
      await Deno.remove(file);
    }
  },
});

Deno.test("encodeTcpPacket() lays out an IPv4 SYN as documented", () => {
  const packet = encodeTcpPacket({
    ...V4,
    sourcePort: 40000,
    destinationPort: 22,
    sequence: 0xfffffff0,
    flags: TCP_SYN,
    payload: TRAILER,
    identification: 0x1234,
  });
  equal(packet.length, 20 + 20 + 37);
  deepStrictEqual([...packet.subarray(0, 10)], [
    0x45,
    0,
    0,
    77,
    0x12,
    0x34,
    0x40,
    0,
    DEFAULT_TTL,
    6,
  ]);
  deepStrictEqual(packet.subarray(12, 16), V4.source);
  deepStrictEqual(packet.subarray(16, 20), V4.destination);
  equal(u16(packet, 20), 40000);
  equal(u16(packet, 22), 22);
  deepStrictEqual([...packet.subarray(24, 28)], [0xff, 0xff, 0xff, 0xf0]);
  deepStrictEqual([...packet.subarray(28, 34)], [0, 0, 0, 0, 0x50, TCP_SYN]);
  equal(u16(packet, 34), DEFAULT_TCP_WINDOW);
  equal(u16(packet, 38), 0); // urgent pointer
  deepStrictEqual(packet.subarray(40), TRAILER);
});

Deno.test("encodeUdpPacket() lays out an IPv6 datagram as documented", () => {
  const packet = encodeUdpPacket({
    ...V6,
    sourcePort: 40000,
    destinationPort: 62201,
    payload: TRAILER,
    ttl: 3,
  });
  equal(packet.length, 40 + 8 + 37);
  deepStrictEqual([...packet.subarray(0, 8)], [0x60, 0, 0, 0, 0, 45, 17, 3]);
  deepStrictEqual(packet.subarray(8, 24), V6.source);
  deepStrictEqual(packet.subarray(24, 40), V6.destination);
  equal(u16(packet, 44), 45);
  deepStrictEqual(packet.subarray(48), TRAILER);
});

Deno.test("encoders refuse addresses of mixed or unknown families", () => {
  const ports = { sourcePort: 1, destinationPort: 2 };
  throws(
    () => encodeUdpPacket({ source: V4.source, destination: V6.destination, ...ports }),
    TypeError,
  );
  throws(
    () => encodeUdpPacket({ source: new Uint8Array(5), destination: new Uint8Array(5), ...ports }),
    TypeError,
  );
  throws(
    () =>
      encodeTcpPacket({
        source: V6.source,
        destination: V4.destination,
        ...ports,
        sequence: 0,
        flags: 0,
      }),
    { name: "TypeError", message: /both be 4 or both be 16 bytes, got 16 and 4/ },
  );
});

Deno.test("encoders refuse fields out of range", () => {
  const base = { ...V4, sourcePort: 1, destinationPort: 2, sequence: 0, flags: TCP_SYN };
  const cases: [string, Record<string, unknown>][] = [
    ["sourcePort", { sourcePort: 65536 }],
    ["sourcePort", { sourcePort: -1 }],
    ["destinationPort", { destinationPort: 1.5 }],
    ["destinationPort", { destinationPort: NaN }],
    ["sequence", { sequence: 2 ** 32 }],
    ["acknowledgment", { acknowledgment: -1 }],
    ["flags", { flags: 256 }],
    ["window", { window: 65536 }],
    ["ttl", { ttl: 0 }],
    ["ttl", { ttl: 256 }],
    ["identification", { identification: 65536 }],
  ];
  for (const [name, patch] of cases) {
    throws(() => encodeTcpPacket({ ...base, ...patch }), {
      name: "RangeError",
      message: new RegExp(`^Cannot encode packet: ${name} must be an integer`),
    });
  }
  for (const length of [3, 41, 44]) {
    throws(() => encodeTcpPacket({ ...base, options: new Uint8Array(length) }), RangeError);
  }
  throws(() => encodeUdpPacket({ ...V4, sourcePort: 70000, destinationPort: 1 }), RangeError);
});

Deno.test("encoders refuse payloads the IP length field cannot hold", () => {
  const ports = { sourcePort: 1, destinationPort: 2 };
  encodeUdpPacket({ ...V4, ...ports, payload: new Uint8Array(65535 - 28) });
  throws(
    () => encodeUdpPacket({ ...V4, ...ports, payload: new Uint8Array(65535 - 27) }),
    RangeError,
  );
  encodeUdpPacket({ ...V6, ...ports, payload: new Uint8Array(65535 - 8) });
  throws(
    () => encodeUdpPacket({ ...V6, ...ports, payload: new Uint8Array(65535 - 7) }),
    RangeError,
  );
  throws(
    () =>
      encodeTcpPacket({
        ...V4,
        ...ports,
        sequence: 0,
        flags: 0,
        payload: new Uint8Array(65535 - 39),
      }),
    RangeError,
  );
});
