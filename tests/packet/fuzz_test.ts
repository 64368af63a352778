/**
 * One million random and mutated frames through `decodeFrame()`: nothing may throw, every `"ok"`
 * view must lie inside the captured bytes, and bytes after the captured length must not matter.
 *
 * The run's seed is random unless `SPA_FUZZ_SEED` is set; a failure names the seed and the case,
 * and `SPA_FUZZ_SEED=<seed> SPA_FUZZ_CASE=<case>` replays exactly that case.
 */

import { equal, ok } from "node:assert/strict";
import {
  DECODE_STATUSES,
  decodeFrame,
  type DecodeStatus,
  DLT_EN10MB,
  DLT_LINUX_SLL,
  DLT_LINUX_SLL2,
  encodeTcpPacket,
  encodeUdpPacket,
  PacketView,
  parseAddress,
  TCP_SYN,
} from "../../lib/packet/mod.ts";
import { loadCaptures } from "./_captures.ts";
import { allFramings, LINK_TYPES } from "./_frames.ts";

const CASES = 1_000_000;
const BUFFER = 4096;

const seedText = Deno.env.get("SPA_FUZZ_SEED");
const caseText = Deno.env.get("SPA_FUZZ_CASE");
const SEED = seedText === undefined
  ? crypto.getRandomValues(new Uint32Array(1))[0]!
  : Number(seedText) >>> 0;

// xorshift32, re-seeded per case from (SEED, case) so that any case replays on its own.
let state = 1;
function seedCase(index: number): void {
  state = Math.imul(SEED ^ Math.imul(index + 1, 0x9e3779b9), 0x85ebca6b) >>> 0 || 0x6d2b79f5;
}
function next(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
}
function below(n: number): number {
  return n <= 0 ? 0 : next() % n;
}

interface Seed {
  linkType: number;
  frame: Uint8Array;
  /** Offsets found by decoding the unmutated frame, or -1. */
  ip: number;
  transport: number;
  family: number;
}

async function corpus(): Promise<Seed[]> {
  const frames: { linkType: number; frame: Uint8Array }[] = [];
  for (const capture of await loadCaptures()) {
    for (const frame of capture.frames) frames.push({ linkType: capture.linkType, frame });
  }
  const v4 = { source: parseAddress("10.77.0.2")!, destination: parseAddress("10.77.0.1")! };
  const v6 = { source: parseAddress("fd77::2")!, destination: parseAddress("fd77::1")! };
  const trailer = new Uint8Array(37).fill(0x42);
  for (const addresses of [v4, v6]) {
    const packets = [
      encodeTcpPacket({
        ...addresses,
        sourcePort: 1,
        destinationPort: 22,
        sequence: 1,
        flags: TCP_SYN,
        payload: trailer,
      }),
      encodeUdpPacket({ ...addresses, sourcePort: 1, destinationPort: 62201, payload: trailer }),
    ];
    for (const packet of packets) frames.push(...allFramings(packet));
  }
  const view = new PacketView();
  return frames.map(({ linkType, frame }) => {
    const ok = decodeFrame(linkType, frame, frame.length, view) === "ok";
    return {
      linkType,
      frame,
      ip: ok ? view.ipOffset : -1,
      transport: ok ? view.transportOffset : -1,
      family: ok ? view.family : 0,
    };
  });
}

const SEEDS = await corpus();
const buffer = new Uint8Array(BUFFER);
const view = new PacketView();
const snapshot = new Float64Array(17);
const again = new Float64Array(17);

function take(target: Float64Array, status: DecodeStatus): void {
  target[0] = DECODE_STATUSES.indexOf(status);
  target[1] = view.family;
  target[2] = view.protocol;
  target[3] = view.ipOffset;
  target[4] = view.ipLength;
  target[5] = view.sourceOffset;
  target[6] = view.destinationOffset;
  target[7] = view.transportOffset;
  target[8] = view.sourcePort;
  target[9] = view.destinationPort;
  target[10] = view.tcpFlags;
  target[11] = view.tcpSequence;
  target[12] = view.tcpAcknowledgment;
  target[13] = view.icmpType;
  target[14] = view.icmpCode;
  target[15] = view.payloadOffset;
  target[16] = view.payloadLength;
}

function setUint16(offset: number, value: number): void {
  if (offset + 1 < BUFFER) {
    buffer[offset] = value >> 8;
    buffer[offset + 1] = value & 0xff;
  }
}

function randomTpid(): number {
  return [0x8100, 0x88a8, 0x9100][below(3)]!;
}

/**
 * Inserts up to `count` VLAN tags in front of the EtherType at `at` (Ethernet, cooked v1) or, for
 * cooked v2 (`at` = 20, EtherType at 0), in front of the network header. Returns the new length.
 */
function insertTags(at: number, length: number, count: number, sll2: boolean): number {
  const tags = Math.min(count, (BUFFER - length) >> 2);
  if (at > length || tags <= 0) return length;
  buffer.copyWithin(at + 4 * tags, at, length);
  const inner = sll2 ? (buffer[0]! << 8) | buffer[1]! : 0;
  for (let t = 0; t < tags; t++) {
    if (sll2) {
      setUint16(at + 4 * t, below(4096));
      setUint16(at + 4 * t + 2, t === tags - 1 ? inner : randomTpid());
    } else {
      setUint16(at + 4 * t, randomTpid());
      setUint16(at + 4 * t + 2, below(4096));
    }
  }
  if (sll2) setUint16(0, randomTpid());
  return length + 4 * tags;
}

/** Builds case `index` into `buffer`; returns [linkType, length]. */
function build(index: number): [number, number] {
  seedCase(index);
  if (below(10) === 0) {
    // A random frame, sometimes behind a plausible link and IP version.
    const length = below(200);
    for (let i = 0; i < length; i++) buffer[i] = next() & 0xff;
    const linkType = LINK_TYPES[below(LINK_TYPES.length)]!;
    if (below(2) === 0 && length > 20) {
      setUint16(12, below(2) === 0 ? 0x0800 : 0x86dd);
      buffer[14] = below(2) === 0 ? 0x45 + below(11) : 0x60;
      buffer[0] = below(2) === 0 ? 0x45 + below(11) : 0x60;
    }
    return [linkType, length];
  }
  const seed = SEEDS[below(SEEDS.length)]!;
  buffer.set(seed.frame);
  let length = seed.frame.length;
  let linkType = seed.linkType;
  const mutations = 1 + below(4);
  for (let m = 0; m < mutations; m++) {
    const ip = seed.ip;
    const transport = seed.transport;
    switch (below(10)) {
      case 0: // bit flips
        for (let n = 1 + below(8); n > 0; n--) {
          const at = below(length);
          buffer[at] = buffer[at]! ^ (1 << below(8));
        }
        break;
      case 1: // random bytes, often in the headers
        for (let n = 1 + below(4); n > 0; n--) {
          buffer[below(below(2) === 0 ? Math.min(length, 80) : length)] = next() & 0xff;
        }
        break;
      case 2: // truncation
        length = below(length + 1);
        break;
      case 3: // a captured length beyond the frame (stale bytes follow)
        length = Math.min(BUFFER, length + 1 + below(64));
        break;
      case 4: // IP length fields that lie
        if (ip < 0) break;
        if (seed.family === 4) {
          setUint16(ip + 2, below(2) ? next() & 0xffff : (length - ip + below(9) - 4) & 0xffff);
        } else {setUint16(
            ip + 4,
            below(2) ? next() & 0xffff : (length - ip - 40 + below(9) - 4) & 0xffff,
          );}
        break;
      case 5: // bogus IHL, fragment fields, protocol / next header
        if (ip < 0) break;
        if (seed.family === 4) {
          const field = below(3);
          if (field === 0) buffer[ip] = 0x40 | below(16);
          else if (field === 1) {
            setUint16(ip + 6, [0x2000, 0x0001, 0x4000, next() & 0xffff][below(4)]!);
          } else {buffer[ip + 9] = [
              0,
              1,
              6,
              17,
              43,
              44,
              50,
              51,
              58,
              59,
              60,
              next() & 0xff,
            ][below(12)]!;}
        } else {
          buffer[ip + 6] = [0, 6, 17, 43, 44, 50, 51, 58, 59, 60, next() & 0xff][below(11)]!;
        }
        break;
      case 6: // transport and extension header lengths that lie
        if (transport < 0) break;
        switch (below(4)) {
          case 0:
            buffer[transport + 12] = below(16) << 4; // TCP data offset
            break;
          case 1:
            setUint16(
              transport + 4,
              below(2) ? next() & 0xffff : (length - transport + below(9) - 4) & 0xffff,
            );
            break;
          default:
            if (seed.family === 6 && ip >= 0) {
              buffer[ip + 41] = below(2) ? next() & 0xff : below(8); // first extension header's length
              buffer[ip + 40] = [0, 43, 44, 51, 60][below(5)]!;
            }
        }
        break;
      case 7: // extended VLAN stacks
        if (linkType === DLT_EN10MB) length = insertTags(12, length, 1 + below(12), false);
        else if (linkType === DLT_LINUX_SLL) length = insertTags(14, length, 1 + below(12), false);
        else if (linkType === DLT_LINUX_SLL2) length = insertTags(20, length, 1 + below(12), true);
        break;
      case 8: // another link type for the same bytes
        linkType = below(8) === 0 ? next() & 0x1ff : LINK_TYPES[below(LINK_TYPES.length)]!;
        break;
      default: // nothing this round
    }
  }
  // Now and then a length that is not a plain byte count.
  if (below(100) === 0) length = [NaN, -1, Infinity, length + 0.5][below(4)]!;
  return [linkType, length];
}

function check(index: number): DecodeStatus {
  const [linkType, length] = build(index);
  let status: DecodeStatus;
  try {
    status = decodeFrame(linkType, buffer, length, view);
  } catch (error) {
    throw failure(index, linkType, length, `decodeFrame threw ${error}`);
  }
  const fail = (why: string) => failure(index, linkType, length, why);
  if (!DECODE_STATUSES.includes(status)) throw fail(`unknown status ${status}`);
  if (status === "ok") {
    const violation = okViolation(length >= 0 ? Math.min(Math.floor(length), BUFFER) : 0);
    if (violation !== undefined) throw fail(violation);
  }
  // What follows the captured length must not change anything.
  if ((index & 3) === 0 && length >= 0 && length < BUFFER) {
    take(snapshot, status);
    const from = Math.floor(length);
    for (let i = from; i < Math.min(BUFFER, from + 64); i++) buffer[i] = next() & 0xff;
    take(again, decodeFrame(linkType, buffer, length, view));
    for (let i = 0; i < (status === "ok" ? snapshot.length : 1); i++) {
      if (snapshot[i] !== again[i]) {
        throw fail(`bytes after the captured length changed field ${i}`);
      }
    }
  }
  return status;
}

function within(value: number, low: number, high: number): boolean {
  return Number.isInteger(value) && value >= low && value <= high;
}

/** What is wrong with an "ok" view of a frame of `end` captured bytes, if anything. */
function okViolation(end: number): string | undefined {
  const header = view.family === 4 ? 20 : 40;
  const ipEnd = view.ipOffset + view.ipLength;
  if (view.family !== 4 && view.family !== 6) return "family";
  if (!within(view.ipOffset, 0, end - header) || !within(ipEnd, view.ipOffset + header, end)) {
    return "IP packet outside the frame";
  }
  const addresses = view.ipOffset + (view.family === 4 ? 12 : 8);
  if (view.sourceOffset !== addresses) return "source address";
  if (view.destinationOffset !== addresses + view.addressLength) return "destination address";
  if (!within(view.transportOffset, view.ipOffset + header, ipEnd)) return "transport header";
  if (!within(view.payloadOffset, view.transportOffset, ipEnd)) return "payload offset";
  if (!within(view.payloadLength, 0, ipEnd - view.payloadOffset)) return "payload length";
  if (!within(view.protocol, 0, 255) || !within(view.tcpFlags, 0, 255)) return "protocol or flags";
  if (!within(view.icmpType, 0, 255) || !within(view.icmpCode, 0, 255)) return "ICMP type or code";
  if (!within(view.sourcePort, 0, 0xffff) || !within(view.destinationPort, 0, 0xffff)) {
    return "ports";
  }
  if (!within(view.tcpSequence, 0, 0xffffffff) || !within(view.tcpAcknowledgment, 0, 0xffffffff)) {
    return "TCP numbers";
  }
  const tail = view.tailOffset(37);
  if (tail !== -1 && !within(tail, view.payloadOffset, ipEnd - 37)) return "trailer offset";
  return undefined;
}

function failure(index: number, linkType: number, length: number, why: string): Error {
  const end = Math.max(
    0,
    Math.min(Number.isFinite(length) ? Math.ceil(length) : BUFFER, BUFFER, 256),
  );
  const hex = Array.from(buffer.subarray(0, end), (b) => b.toString(16).padStart(2, "0")).join("");
  return new Error(
    `Fuzz case failed: ${why} (replay: SPA_FUZZ_SEED=${SEED} SPA_FUZZ_CASE=${index}); ` +
      `link type ${linkType}, length ${length}, first bytes ${hex}`,
  );
}

Deno.test(`decodeFrame() survives ${CASES.toLocaleString("en-US")} random and mutated frames`, () => {
  if (caseText !== undefined) {
    check(Number(caseText));
    return;
  }
  const counts = new Map<DecodeStatus, number>(DECODE_STATUSES.map((s) => [s, 0]));
  for (let index = 0; index < CASES; index++) {
    const status = check(index);
    counts.set(status, counts.get(status)! + 1);
  }
  // The mutations must reach every outcome, or they are not exercising the decoder.
  for (const [status, count] of counts) {
    ok(count > 100, `seed ${SEED}: only ${count} frames gave ${status}`);
  }
  equal([...counts.values()].reduce((a, b) => a + b, 0), CASES);
});
