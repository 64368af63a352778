import { equal, throws } from "node:assert/strict";
import fc from "fast-check";
import {
  checksumAdd,
  checksumAddWord,
  checksumFinish,
  internetChecksum,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from "../../lib/packet/mod.ts";
import { decodeAll, loadCapture } from "./_captures.ts";

/** RFC 1071 by arithmetic: the ones' complement sum is the sum modulo 0xffff (0 only for 0). */
function reference(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  const folded = sum === 0 ? 0 : sum % 0xffff === 0 ? 0xffff : sum % 0xffff;
  return ~folded & 0xffff;
}

Deno.test("internetChecksum() matches a textbook IPv4 header", () => {
  // 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7
  const header = Uint8Array.from(
    "450000730000400040110000c0a80001c0a800c7".match(/../g)!,
    (h) => parseInt(h, 16),
  );
  equal(internetChecksum(header), 0xb861);
  header[10] = 0xb8;
  header[11] = 0x61;
  equal(internetChecksum(header), 0);
});

Deno.test("internetChecksum() matches the arithmetic definition, odd lengths included", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
      equal(internetChecksum(bytes), reference(bytes));
    }),
    { numRuns: 500 },
  );
  const ones = new Uint8Array(200_001).fill(0xff);
  equal(internetChecksum(ones), reference(ones));
});

Deno.test("checksumAdd() over even pieces equals the one-shot checksum", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.array(fc.nat(300), { maxLength: 6 }),
      (bytes, cuts) => {
        const points = [...new Set(cuts.map((c) => Math.min(2 * c, bytes.length)))]
          .sort((a, b) => a - b);
        let sum = 0;
        let start = 0;
        for (const point of [...points, bytes.length]) {
          sum = checksumAdd(sum, bytes, start, point - start);
          start = point;
        }
        equal(checksumFinish(sum), internetChecksum(bytes));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("checksumAddWord() adds like two bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 0xffff }), (b, w) => {
      const even = b.length % 2 === 0 ? b : b.subarray(0, b.length - 1);
      const joined = new Uint8Array([...even, w >> 8, w & 0xff]);
      equal(checksumFinish(checksumAddWord(checksumAdd(0, even), w)), internetChecksum(joined));
    }),
  );
});

Deno.test("checksumAdd() refuses pieces outside the data", () => {
  const bytes = new Uint8Array(10);
  throws(() => checksumAdd(0, bytes, 8, 4), RangeError);
  throws(() => checksumAdd(0, bytes, -2, 2), RangeError);
  throws(() => checksumAdd(0, bytes, 0.5, 2), RangeError);
  throws(() => checksumAdd(0, bytes, 0, -1), RangeError);
});

Deno.test("checksums verify on every IPv4 header, TCP segment and UDP datagram captured", async () => {
  // Offload was off on both hosts, so the kernel wrote final checksums.
  const capture = await loadCapture("ethernet.pcap");
  let verified = 0;
  for (const { frame, status, view } of decodeAll(capture)) {
    if (status !== "ok") continue;
    const ip = view.ipOffset;
    if (view.family === 4) {
      equal(internetChecksum(frame, ip, (frame[ip]! & 0x0f) * 4), 0);
    }
    if (view.protocol !== IPPROTO_TCP && view.protocol !== IPPROTO_UDP) continue;
    const length = view.ipOffset + view.ipLength - view.transportOffset;
    let sum = checksumAdd(0, frame, view.sourceOffset, 2 * view.addressLength);
    sum = checksumAddWord(checksumAddWord(sum, view.protocol), length);
    equal(checksumFinish(checksumAdd(sum, frame, view.transportOffset, length)), 0);
    verified++;
  }
  equal(verified >= 30, true, `only ${verified} segments verified`);
});
