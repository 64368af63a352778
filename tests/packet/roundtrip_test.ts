import { deepStrictEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import {
  checksumAdd,
  checksumAddWord,
  checksumFinish,
  decodeFrame,
  encodeTcpPacket,
  encodeUdpPacket,
  formatAddress,
  internetChecksum,
  IPPROTO_TCP,
  IPPROTO_UDP,
  LINKTYPE_RAW,
  PacketView,
  type TcpPacketOptions,
  type UdpPacketOptions,
} from "../../lib/packet/mod.ts";
import { allFramings } from "./_frames.ts";

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
const addresses = fc.oneof(
  fc.record({ source: bytes(4), destination: bytes(4) }),
  fc.record({ source: bytes(16), destination: bytes(16) }),
);
const port = fc.integer({ min: 0, max: 0xffff });
const uint32 = fc.integer({ min: 0, max: 0xffffffff });
const payload = fc.uint8Array({ maxLength: 1500 });

const tcpOptions: fc.Arbitrary<TcpPacketOptions> = fc.tuple(
  addresses,
  fc.record({
    sourcePort: port,
    destinationPort: port,
    sequence: uint32,
    acknowledgment: uint32,
    flags: fc.integer({ min: 0, max: 0xff }),
    window: port,
    options: fc.integer({ min: 0, max: 10 }).chain((n) => bytes(4 * n)),
    payload,
    ttl: fc.integer({ min: 1, max: 255 }),
    identification: port,
  }),
).map(([a, rest]) => ({ ...a, ...rest }));

const udpOptions: fc.Arbitrary<UdpPacketOptions> = fc.tuple(
  addresses,
  fc.record({
    sourcePort: port,
    destinationPort: port,
    payload,
    ttl: fc.integer({ min: 1, max: 255 }),
  }),
).map(([a, rest]) => ({ ...a, ...rest }));

/** Whether the packet's IPv4 header and transport checksum verify. */
function checksumsVerify(packet: Uint8Array, view: PacketView): boolean {
  if (view.family === 4 && internetChecksum(packet, 0, 20) !== 0) return false;
  const length = packet.length - view.transportOffset;
  let sum = checksumAdd(0, packet, view.sourceOffset, 2 * view.addressLength);
  sum = checksumAddWord(checksumAddWord(sum, view.protocol), length);
  return checksumFinish(checksumAdd(sum, packet, view.transportOffset, length)) === 0;
}

Deno.test("encodeTcpPacket() then decodeFrame() gives back every field, under every link type", () => {
  fc.assert(
    fc.property(tcpOptions, (options) => {
      const packet = encodeTcpPacket(options);
      for (const { linkType, frame, ipOffset } of allFramings(packet)) {
        const view = new PacketView();
        equal(decodeFrame(linkType, frame, frame.length, view), "ok");
        deepStrictEqual(
          {
            family: view.family,
            protocol: view.protocol,
            source: formatAddress(view.sourceAddress(frame)),
            destination: formatAddress(view.destinationAddress(frame)),
            sourcePort: view.sourcePort,
            destinationPort: view.destinationPort,
            sequence: view.tcpSequence,
            acknowledgment: view.tcpAcknowledgment,
            flags: view.tcpFlags,
            payloadOffset: view.payloadOffset - ipOffset,
            payload: view.payload(frame),
          },
          {
            family: options.source.length === 4 ? 4 : 6,
            protocol: IPPROTO_TCP,
            source: formatAddress(options.source),
            destination: formatAddress(options.destination),
            sourcePort: options.sourcePort,
            destinationPort: options.destinationPort,
            sequence: options.sequence,
            acknowledgment: options.acknowledgment,
            flags: options.flags,
            payloadOffset: (options.source.length === 4 ? 20 : 40) + 20 + options.options!.length,
            payload: options.payload,
          },
        );
      }
      const raw = new PacketView();
      decodeFrame(LINKTYPE_RAW, packet, packet.length, raw);
      equal(checksumsVerify(packet, raw), true);
    }),
    { numRuns: 300 },
  );
});

Deno.test("encodeUdpPacket() then decodeFrame() gives back every field, under every link type", () => {
  fc.assert(
    fc.property(udpOptions, (options) => {
      const packet = encodeUdpPacket(options);
      for (const { linkType, frame } of allFramings(packet)) {
        const view = new PacketView();
        equal(decodeFrame(linkType, frame, frame.length, view), "ok");
        equal(view.protocol, IPPROTO_UDP);
        deepStrictEqual(view.sourceAddress(frame), options.source);
        deepStrictEqual(view.destinationAddress(frame), options.destination);
        deepStrictEqual([view.sourcePort, view.destinationPort], [
          options.sourcePort,
          options.destinationPort,
        ]);
        deepStrictEqual(view.payload(frame), options.payload);
        equal(view.tcpFlags, 0);
        const tail = view.tailOffset(37);
        if (options.payload!.length >= 37) {
          deepStrictEqual(frame.subarray(tail, tail + 37), options.payload!.subarray(-37));
        } else {
          equal(tail, -1);
        }
      }
      const raw = new PacketView();
      decodeFrame(LINKTYPE_RAW, packet, packet.length, raw);
      equal(checksumsVerify(packet, raw), true);
    }),
    { numRuns: 300 },
  );
});
