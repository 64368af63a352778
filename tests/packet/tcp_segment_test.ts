/** readTcpSegment reads what encodeTcpPacket writes, and refuses truncated headers. */

import { deepEqual, equal } from "node:assert/strict";
import { TCP_RST, TCP_SYN } from "../../lib/packet/constants.ts";
import { encodeTcpPacket } from "../../lib/packet/encode.ts";
import { readTcpSegment } from "../../lib/packet/tcp_segment.ts";

Deno.test("readTcpSegment: ports, flags and payload of an encoded segment, IPv4 and IPv6", () => {
  for (
    const [source, destination, ipHeader] of [
      [new Uint8Array([10, 77, 0, 2]), new Uint8Array([10, 77, 0, 1]), 20],
      [new Uint8Array(16).fill(0xfd, 0, 1), new Uint8Array(16).fill(0xfd, 0, 1).fill(1, 15), 40],
    ] as const
  ) {
    for (const flags of [TCP_SYN, TCP_RST]) {
      const payload = crypto.getRandomValues(new Uint8Array(37));
      const packet = encodeTcpPacket({
        source,
        destination,
        sourcePort: 22,
        destinationPort: 40000,
        sequence: 7,
        flags,
        payload,
      });
      const read = readTcpSegment(packet.subarray(ipHeader));
      equal(read?.sourcePort, 22);
      equal(read?.destinationPort, 40000);
      equal(read?.flags, flags);
      deepEqual(read?.payload, payload);
    }
  }
});

Deno.test("readTcpSegment: a segment shorter than its header is refused", () => {
  equal(readTcpSegment(new Uint8Array(19)), undefined);
  const segment = new Uint8Array(24);
  segment[12] = 6 << 4; // 24-byte header: fits, empty payload
  equal(readTcpSegment(segment)?.payload.length, 0);
  segment[12] = 7 << 4; // 28 bytes: longer than the segment
  equal(readTcpSegment(segment), undefined);
  segment[12] = 4 << 4; // 16 bytes: below the minimum
  equal(readTcpSegment(segment), undefined);
});
