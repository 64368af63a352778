/**
 * `Capture` on `.pcap` files written here by hand: reading, filters, errors, closing. No root.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { catchError as assertThrows, openFds } from "./_helpers.ts";
import { Capture, PcapError } from "../../ffi/pcap.ts";
import { encodeTcpPacket, encodeUdpPacket, TCP_SYN } from "../../lib/packet/mod.ts";

const ETHERNET = 1;
const source = new Uint8Array([10, 77, 0, 2]);
const destination = new Uint8Array([10, 77, 0, 1]);
const trailer = Uint8Array.from({ length: 37 }, (_, i) => i + 1);

interface Record {
  frame: Uint8Array;
  wireLength?: number;
  seconds: number;
  micros: number;
}

function ethernet(packet: Uint8Array): Uint8Array {
  const frame = new Uint8Array(14 + packet.length);
  frame.set([2, 0x77, 0, 0, 0, 1, 2, 0x77, 0, 0, 0, 2, 0x08, 0x00]);
  frame.set(packet, 14);
  return frame;
}

/** A classic little-endian, microsecond `.pcap` file. */
function pcapFile(linkType: number, records: Record[]): Uint8Array {
  const size = 24 + records.reduce((sum, r) => sum + 16 + r.frame.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0xa1b2c3d4, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 262144, true);
  view.setUint32(20, linkType, true);
  let offset = 24;
  for (const r of records) {
    view.setUint32(offset, r.seconds, true);
    view.setUint32(offset + 4, r.micros, true);
    view.setUint32(offset + 8, r.frame.length, true);
    view.setUint32(offset + 12, r.wireLength ?? r.frame.length, true);
    out.set(r.frame, offset + 16);
    offset += 16 + r.frame.length;
  }
  return out;
}

const syn = ethernet(encodeTcpPacket({
  source,
  destination,
  sourcePort: 40000,
  destinationPort: 22,
  sequence: 1,
  flags: TCP_SYN,
  payload: trailer,
}));
const udp = ethernet(encodeUdpPacket({
  source,
  destination,
  sourcePort: 40000,
  destinationPort: 62201,
  payload: trailer,
}));
const records: Record[] = [
  { frame: syn, seconds: 1_700_000_000, micros: 1 },
  { frame: udp, seconds: 1_700_000_001, micros: 999_999 },
  // A packet cut by the capturing side's snaplen: 60 bytes kept of 1514 on the wire.
  { frame: udp.slice(0, 60), wireLength: 1514, seconds: 1_700_000_002, micros: 500_000 },
];

async function withFile(bytes: Uint8Array, fn: (path: string) => Promise<void> | void) {
  const path = await Deno.makeTempFile({ suffix: ".pcap" });
  try {
    await Deno.writeFile(path, bytes);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

function readAll(capture: Capture) {
  const seen: { frame: Uint8Array; wireLength: number; timestamp: number }[] = [];
  while (
    capture.read((frame, length, wireLength, timestamp) => {
      seen.push({ frame: frame.slice(0, length), wireLength, timestamp });
    }) > 0
  ) { /* next batch */ }
  return seen;
}

Deno.test("Capture.openOffline reads every packet byte for byte, with lengths and timestamps", async () => {
  await withFile(pcapFile(ETHERNET, records), (path) => {
    using capture = Capture.openOffline(path);
    assertEquals(capture.linkType, ETHERNET);
    assertEquals(capture.ended, false);
    const seen = readAll(capture);
    assertEquals(seen.length, 3);
    for (const [i, record] of records.entries()) {
      assertEquals(seen[i]!.frame, record.frame);
      assertEquals(seen[i]!.wireLength, record.wireLength ?? record.frame.length);
      assertEquals(seen[i]!.timestamp, record.seconds * 1e6 + record.micros);
    }
    assert(capture.ended);
    assertEquals(capture.read(() => {}), 0);
  });
});

Deno.test("Capture.read hands out one reused buffer and honours max", async () => {
  await withFile(pcapFile(ETHERNET, records), (path) => {
    using capture = Capture.openOffline(path);
    const buffers = new Set<Uint8Array>();
    assertEquals(capture.read((frame) => buffers.add(frame), 2), 2);
    assertEquals(capture.read((frame) => buffers.add(frame), 2), 1);
    assertEquals(buffers.size, 1);
  });
});

Deno.test("Capture.setFilter applies a BPF filter and rejects bad syntax", async () => {
  await withFile(pcapFile(ETHERNET, records), (path) => {
    using capture = Capture.openOffline(path);
    capture.setFilter("tcp[tcpflags] & tcp-syn != 0");
    const seen = readAll(capture);
    assertEquals(seen.length, 1);
    assertEquals(seen[0]!.frame, syn);
    const error = assertThrows(() => capture.setFilter("tcp and and"), SyntaxError);
    assert(error.message.startsWith('Cannot compile filter "tcp and and": '), error.message);
  });
});

Deno.test("Capture.run reads a whole file and resolves at its end", async () => {
  await withFile(pcapFile(ETHERNET, records), async (path) => {
    using capture = Capture.openOffline(path);
    let count = 0;
    await capture.run(() => count++);
    assertEquals(count, 3);
    assert(capture.ended);
    assertEquals(await capture.wait(), false);
  });
});

Deno.test("Capture.close is safe twice, stops a batch from its callback, and frees the handle", async () => {
  await withFile(pcapFile(ETHERNET, records), (path) => {
    const before = openFds();
    const capture = Capture.openOffline(path);
    assert(openFds().length > before.length, "the open file should show as a descriptor");
    assertEquals(capture.read(() => capture.close()), 1);
    assert(capture.closed);
    capture.close();
    assertEquals(openFds(), before);
    const error = assertThrows(() => capture.read(() => {}), PcapError);
    assert(error.message.includes("is closed"), error.message);
  });
});

Deno.test("Capture.read reports a truncated file after its whole packets", async () => {
  const bytes = pcapFile(ETHERNET, records);
  await withFile(bytes.subarray(0, bytes.length - 10), (path) => {
    using capture = Capture.openOffline(path);
    let count = 0;
    const error = assertThrows(() => {
      while (capture.read(() => count++) > 0) { /* next batch */ }
    }, PcapError);
    assertEquals(count, 2);
    assert(error.message.startsWith(`Cannot read packets on ${path}: `), error.message);
    assert(!capture.ended);
  });
});

Deno.test("Capture.stats is refused on a file", async () => {
  await withFile(pcapFile(ETHERNET, records), (path) => {
    using capture = Capture.openOffline(path);
    const error = assertThrows(() => capture.stats(), PcapError);
    assert(error.message.startsWith("Cannot read statistics on "), error.message);
  });
});

Deno.test("Capture.openOffline reports a missing or malformed file", async () => {
  const missing = assertThrows(() => Capture.openOffline("/nonexistent/x.pcap"), PcapError);
  assert(missing.message.startsWith("Cannot open capture file /nonexistent/x.pcap: "));
  await withFile(new TextEncoder().encode("not a capture file at all"), (path) => {
    const error = assertThrows(() => Capture.openOffline(path), PcapError);
    assert(error.message.startsWith(`Cannot open capture file ${path}: `), error.message);
  });
});

Deno.test("Capture.open reports an unknown interface", () => {
  const error = assertThrows(() => Capture.open("nosuchif0"), PcapError);
  assert(error.message.startsWith("Cannot open capture on nosuchif0: "), error.message);
  assert(error.status < 0);
});

Deno.test("Capture.open checks its numeric options", () => {
  assertThrows(() => Capture.open("lo", { snaplen: 10 }), RangeError);
  assertThrows(() => Capture.open("lo", { bufferSize: 1.5 }), RangeError);
});
