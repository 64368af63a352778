/**
 * Frame decoder: link header (Ethernet with VLAN tags, Linux cooked v1/v2, raw IP, BSD loopback),
 * IPv4 (options) or IPv6 (extension headers), then TCP, UDP, ICMP or ICMPv6, into a reusable
 * {@linkcode PacketView}. Runs on every captured packet: it allocates nothing, and any input, however
 * malformed, yields a {@linkcode DecodeStatus} rather than an exception.
 *
 * What it refuses, on purpose:
 * - Fragments, first or not (`"fragment"`): the transport payload of a fragment does not end where
 *   the datagram ends, so its last bytes are not the datagram's trailer, and a non-first fragment
 *   has no transport header at all. No reassembly is done; a knock is one small unfragmented
 *   packet. IPv6 atomic fragments (offset 0, no more fragments, RFC 6946) are whole and decoded.
 * - Packets cut short by the snapshot length (`"truncated"`): the payload's end is unknown.
 * - Packets whose lengths contradict each other (`"bad-ip"`, `"bad-transport"`), including IPv6
 *   jumbograms (payload length 0) and IPv4 segments larger than 64 KiB seen before segmentation.
 *
 * What it does not check: IP, TCP and UDP checksums (a capture of outgoing packets with checksum
 * offload carries unfinished ones, and the trailer is authenticated anyway), IPv4 option contents,
 * and whether an IPv6 hop-by-hop header comes first.
 *
 * @module
 */

import {
  DLT_EN10MB,
  DLT_IPV4,
  DLT_IPV6,
  DLT_LINUX_SLL,
  DLT_LINUX_SLL2,
  DLT_LOOP,
  DLT_NULL,
  DLT_RAW,
  DLT_RAW_OPENBSD,
  ETHERNET_HEADER_LENGTH,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_QINQ_LEGACY,
  ETHERTYPE_VLAN,
  ICMP_HEADER_LENGTH,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_FLAG_MORE_FRAGMENTS,
  IPV4_FRAGMENT_OFFSET_MASK,
  IPV4_HEADER_LENGTH,
  IPV6_FLAG_MORE_FRAGMENTS,
  IPV6_FRAGMENT_HEADER_LENGTH,
  IPV6_FRAGMENT_OFFSET_MASK,
  IPV6_HEADER_LENGTH,
  LINKTYPE_RAW,
  LOOPBACK_AF_INET,
  LOOPBACK_AF_INET6_BSD,
  LOOPBACK_AF_INET6_DARWIN,
  LOOPBACK_AF_INET6_FREEBSD,
  LOOPBACK_AF_INET6_LINUX,
  LOOPBACK_HEADER_LENGTH,
  MAX_IPV6_EXTENSION_HEADERS,
  MAX_VLAN_TAGS,
  SLL2_HEADER_LENGTH,
  SLL_HEADER_LENGTH,
  TCP_HEADER_LENGTH,
  UDP_HEADER_LENGTH,
  VLAN_TAG_LENGTH,
} from "./constants.ts";
import type { PacketView } from "./view.ts";

/**
 * Outcome of {@linkcode decodeFrame}:
 * - `"ok"`: the view is filled.
 * - `"truncated"`: the captured bytes end before the headers or the IP packet do.
 * - `"unsupported-link"`: a link type this decoder does not know.
 * - `"bad-link"`: a link header it cannot walk (more than `MAX_VLAN_TAGS` tags).
 * - `"not-ip"`: a frame of another protocol (ARP, LLC, an unknown loopback family, ...).
 * - `"bad-ip"`: a malformed IP header (wrong version, lengths that contradict each other, an
 *   extension header running past the packet, more than `MAX_IPV6_EXTENSION_HEADERS`).
 * - `"fragment"`: an IPv4 or IPv6 fragment (see the module documentation).
 * - `"bad-transport"`: a TCP, UDP, ICMP or ICMPv6 header that does not fit the IP packet.
 */
export type DecodeStatus =
  | "ok"
  | "truncated"
  | "unsupported-link"
  | "bad-link"
  | "not-ip"
  | "bad-ip"
  | "fragment"
  | "bad-transport";

/**
 * Every {@linkcode DecodeStatus}, e.g. to keep one counter per reason.
 *
 * @example
 * ```ts
 * import { DECODE_STATUSES } from "./decode.ts";
 * const counters = new Map(DECODE_STATUSES.map((status) => [status, 0]));
 * if (!counters.has("fragment")) throw new Error("unexpected");
 * ```
 */
export const DECODE_STATUSES: readonly DecodeStatus[] = [
  "ok",
  "truncated",
  "unsupported-link",
  "bad-link",
  "not-ip",
  "bad-ip",
  "fragment",
  "bad-transport",
];

/**
 * Decodes the first `length` bytes of `frame`, captured on a link of type `linkType`, into
 * `view`. Never throws and allocates nothing; `view` is meaningful only when the result is `"ok"`.
 *
 * @param linkType The capture's link type (`DLT_EN10MB`, `DLT_LINUX_SLL2`, ...).
 * @param frame The buffer holding the frame (it may be longer than the frame and reused).
 * @param length The captured length; values beyond `frame.length` are clamped to it.
 * @param view The view to fill.
 * @returns `"ok"` or the reason the frame was rejected.
 * @example
 * ```ts
 * import { decodeFrame } from "./decode.ts";
 * import { PacketView } from "./view.ts";
 * import { encodeTcpPacket } from "./encode.ts";
 * import { DLT_RAW, TCP_SYN } from "./constants.ts";
 * const packet = encodeTcpPacket({
 *   source: new Uint8Array([10, 77, 0, 2]),
 *   destination: new Uint8Array([10, 77, 0, 1]),
 *   sourcePort: 40000,
 *   destinationPort: 22,
 *   sequence: 1,
 *   flags: TCP_SYN,
 *   payload: new Uint8Array(37),
 * });
 * const view = new PacketView();
 * if (decodeFrame(DLT_RAW, packet, packet.length, view) !== "ok") throw new Error("rejected");
 * if (view.tcpFlags !== TCP_SYN || view.tailOffset(37) !== 40) throw new Error("unexpected");
 * if (decodeFrame(DLT_RAW, packet, 30, view) !== "truncated") throw new Error("unexpected");
 * ```
 */
export function decodeFrame(
  linkType: number,
  frame: Uint8Array,
  length: number,
  view: PacketView,
): DecodeStatus {
  if (!(length >= 0)) return "truncated";
  const end = length < frame.length ? Math.floor(length) : frame.length;
  switch (linkType) {
    case DLT_EN10MB:
      if (end < ETHERNET_HEADER_LENGTH) return "truncated";
      return decodeEthertype(frame, ETHERNET_HEADER_LENGTH - 2, ETHERNET_HEADER_LENGTH, end, view);
    case DLT_LINUX_SLL:
      if (end < SLL_HEADER_LENGTH) return "truncated";
      return decodeEthertype(frame, SLL_HEADER_LENGTH - 2, SLL_HEADER_LENGTH, end, view);
    case DLT_LINUX_SLL2:
      if (end < SLL2_HEADER_LENGTH) return "truncated";
      return decodeEthertype(frame, 0, SLL2_HEADER_LENGTH, end, view);
    case DLT_RAW:
    case DLT_RAW_OPENBSD:
    case LINKTYPE_RAW:
      if (end < 1) return "truncated";
      switch (frame[0]! >> 4) {
        case 4:
          return decodeIpv4(frame, 0, end, view);
        case 6:
          return decodeIpv6(frame, 0, end, view);
        default:
          return "bad-ip";
      }
    case DLT_IPV4:
      return decodeIpv4(frame, 0, end, view);
    case DLT_IPV6:
      return decodeIpv6(frame, 0, end, view);
    case DLT_NULL: {
      if (end < LOOPBACK_HEADER_LENGTH) return "truncated";
      // The family word is in the capturing host's byte order; families are small numbers, so a
      // value with high bits set was written by a host of the other byte order.
      const little = frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24);
      const family = (little & 0xffff0000) === 0 ? little : readUint32(frame, 0);
      return decodeLoopback(family, frame, end, view);
    }
    case DLT_LOOP:
      if (end < LOOPBACK_HEADER_LENGTH) return "truncated";
      return decodeLoopback(readUint32(frame, 0), frame, end, view);
    default:
      return "unsupported-link";
  }
}

/** Walks VLAN tags from the EtherType at `typeOffset`; the next header starts at `offset`. */
function decodeEthertype(
  frame: Uint8Array,
  typeOffset: number,
  offset: number,
  end: number,
  view: PacketView,
): DecodeStatus {
  let type = readUint16(frame, typeOffset);
  let tags = 0;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_LEGACY) {
    if (++tags > MAX_VLAN_TAGS) return "bad-link";
    if (offset + VLAN_TAG_LENGTH > end) return "truncated";
    type = readUint16(frame, offset + 2);
    offset += VLAN_TAG_LENGTH;
  }
  switch (type) {
    case ETHERTYPE_IPV4:
      return decodeIpv4(frame, offset, end, view);
    case ETHERTYPE_IPV6:
      return decodeIpv6(frame, offset, end, view);
    default:
      return "not-ip";
  }
}

function decodeLoopback(
  family: number,
  frame: Uint8Array,
  end: number,
  view: PacketView,
): DecodeStatus {
  switch (family) {
    case LOOPBACK_AF_INET:
      return decodeIpv4(frame, LOOPBACK_HEADER_LENGTH, end, view);
    case LOOPBACK_AF_INET6_LINUX:
    case LOOPBACK_AF_INET6_BSD:
    case LOOPBACK_AF_INET6_FREEBSD:
    case LOOPBACK_AF_INET6_DARWIN:
      return decodeIpv6(frame, LOOPBACK_HEADER_LENGTH, end, view);
    default:
      return "not-ip";
  }
}

function decodeIpv4(
  frame: Uint8Array,
  offset: number,
  end: number,
  view: PacketView,
): DecodeStatus {
  if (offset + IPV4_HEADER_LENGTH > end) return "truncated";
  const first = frame[offset]!;
  if (first >> 4 !== 4) return "bad-ip";
  const headerLength = (first & 0x0f) * 4;
  const totalLength = readUint16(frame, offset + 2);
  if (headerLength < IPV4_HEADER_LENGTH || totalLength < headerLength) return "bad-ip";
  if (offset + totalLength > end) return "truncated";
  const fragment = readUint16(frame, offset + 6);
  if ((fragment & (IPV4_FLAG_MORE_FRAGMENTS | IPV4_FRAGMENT_OFFSET_MASK)) !== 0) return "fragment";
  view.family = 4;
  view.ipOffset = offset;
  view.ipLength = totalLength;
  view.sourceOffset = offset + 12;
  view.destinationOffset = offset + 16;
  return decodeTransport(
    frame,
    frame[offset + 9]!,
    offset + headerLength,
    offset + totalLength,
    view,
  );
}

function decodeIpv6(
  frame: Uint8Array,
  offset: number,
  end: number,
  view: PacketView,
): DecodeStatus {
  if (offset + IPV6_HEADER_LENGTH > end) return "truncated";
  if (frame[offset]! >> 4 !== 6) return "bad-ip";
  const packetEnd = offset + IPV6_HEADER_LENGTH + readUint16(frame, offset + 4);
  if (packetEnd > end) return "truncated";
  let next = frame[offset + 6]!;
  let cursor = offset + IPV6_HEADER_LENGTH;
  for (let count = 0; isExtensionHeader(next); count++) {
    // Every extension header is at least 8 bytes long; its length field is byte 1.
    if (count >= MAX_IPV6_EXTENSION_HEADERS || cursor + 8 > packetEnd) return "bad-ip";
    const headerLength = next === IPPROTO_FRAGMENT
      ? IPV6_FRAGMENT_HEADER_LENGTH
      : next === IPPROTO_AH
      ? (frame[cursor + 1]! + 2) * 4
      : (frame[cursor + 1]! + 1) * 8;
    if (cursor + headerLength > packetEnd) return "bad-ip";
    if (
      next === IPPROTO_FRAGMENT &&
      (readUint16(frame, cursor + 2) & (IPV6_FRAGMENT_OFFSET_MASK | IPV6_FLAG_MORE_FRAGMENTS)) !== 0
    ) {
      return "fragment";
    }
    next = frame[cursor]!;
    cursor += headerLength;
  }
  view.family = 6;
  view.ipOffset = offset;
  view.ipLength = packetEnd - offset;
  view.sourceOffset = offset + 8;
  view.destinationOffset = offset + 24;
  return decodeTransport(frame, next, cursor, packetEnd, view);
}

/** Whether `next` is an IPv6 extension header the decoder walks (ESP and "no next header" end it). */
function isExtensionHeader(next: number): boolean {
  return next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS ||
    next === IPPROTO_FRAGMENT || next === IPPROTO_AH;
}

/** Decodes the transport header at `start`; the IP packet (and so the payload) ends at `end`. */
function decodeTransport(
  frame: Uint8Array,
  protocol: number,
  start: number,
  end: number,
  view: PacketView,
): DecodeStatus {
  const available = end - start;
  view.protocol = protocol;
  view.transportOffset = start;
  view.sourcePort = 0;
  view.destinationPort = 0;
  view.tcpFlags = 0;
  view.tcpSequence = 0;
  view.tcpAcknowledgment = 0;
  view.icmpType = 0;
  view.icmpCode = 0;
  switch (protocol) {
    case IPPROTO_TCP: {
      if (available < TCP_HEADER_LENGTH) return "bad-transport";
      const headerLength = (frame[start + 12]! >> 4) * 4;
      if (headerLength < TCP_HEADER_LENGTH || headerLength > available) return "bad-transport";
      view.sourcePort = readUint16(frame, start);
      view.destinationPort = readUint16(frame, start + 2);
      view.tcpSequence = readUint32(frame, start + 4);
      view.tcpAcknowledgment = readUint32(frame, start + 8);
      view.tcpFlags = frame[start + 13]!;
      view.payloadOffset = start + headerLength;
      view.payloadLength = available - headerLength;
      return "ok";
    }
    case IPPROTO_UDP: {
      if (available < UDP_HEADER_LENGTH) return "bad-transport";
      const datagramLength = readUint16(frame, start + 4);
      if (datagramLength < UDP_HEADER_LENGTH || datagramLength > available) return "bad-transport";
      view.sourcePort = readUint16(frame, start);
      view.destinationPort = readUint16(frame, start + 2);
      view.payloadOffset = start + UDP_HEADER_LENGTH;
      view.payloadLength = datagramLength - UDP_HEADER_LENGTH;
      return "ok";
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      if (available < ICMP_HEADER_LENGTH) return "bad-transport";
      view.icmpType = frame[start]!;
      view.icmpCode = frame[start + 1]!;
      view.payloadOffset = start + ICMP_HEADER_LENGTH;
      view.payloadLength = available - ICMP_HEADER_LENGTH;
      return "ok";
    default:
      view.payloadOffset = start;
      view.payloadLength = available;
      return "ok";
  }
}

function readUint16(frame: Uint8Array, offset: number): number {
  return (frame[offset]! << 8) | frame[offset + 1]!;
}

function readUint32(frame: Uint8Array, offset: number): number {
  return ((frame[offset]! << 24) | (frame[offset + 1]! << 16) | (frame[offset + 2]! << 8) |
    frame[offset + 3]!) >>> 0;
}
