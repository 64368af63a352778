/**
 * Link headers around an IP packet, for the decoder tests: the shapes libpcap hands over for each
 * link type the decoder knows.
 *
 * @module
 */

import {
  checksumAdd,
  checksumFinish,
  DLT_EN10MB,
  DLT_IPV4,
  DLT_IPV6,
  DLT_LINUX_SLL,
  DLT_LINUX_SLL2,
  DLT_LOOP,
  DLT_NULL,
  DLT_RAW,
  DLT_RAW_OPENBSD,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  LINKTYPE_RAW,
} from "../../lib/packet/mod.ts";

/** Every link type the decoder knows. */
export const LINK_TYPES = [
  DLT_NULL,
  DLT_EN10MB,
  DLT_RAW,
  DLT_RAW_OPENBSD,
  LINKTYPE_RAW,
  DLT_LOOP,
  DLT_LINUX_SLL,
  DLT_IPV4,
  DLT_IPV6,
  DLT_LINUX_SLL2,
] as const;

/** A frame and the offset of its IP header. */
export interface Framed {
  linkType: number;
  frame: Uint8Array;
  ipOffset: number;
}

function ethertypeOf(packet: Uint8Array): number {
  return packet[0]! >> 4 === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function be16(value: number): Uint8Array {
  return new Uint8Array([value >> 8, value & 0xff]);
}

/** An Ethernet frame with the given VLAN tags (TPID, VID) and bytes after the packet. */
export function ethernet(
  packet: Uint8Array,
  tags: readonly (readonly [number, number])[] = [],
  trailer: Uint8Array = new Uint8Array(0),
): Framed {
  const macs = new Uint8Array([2, 0x77, 0, 0, 0, 1, 2, 0x77, 0, 0, 0, 2]);
  const tagBytes = tags.map(([tpid, vid]) => concat(be16(tpid), be16(vid)));
  const frame = concat(macs, ...tagBytes, be16(ethertypeOf(packet)), packet, trailer);
  return { linkType: DLT_EN10MB, frame, ipOffset: 14 + 4 * tags.length };
}

/** A Linux cooked v1 frame (with a VLAN tag put back as libpcap does when `vlan` is given). */
export function sll(packet: Uint8Array, vlan?: number): Framed {
  const head = new Uint8Array(14);
  head.set([0, 0, 0, 1, 0, 6, 2, 0x77, 0, 0, 0, 2]);
  const tag = vlan === undefined ? [] : [be16(ETHERTYPE_VLAN), be16(vlan)];
  const frame = concat(head, ...tag, be16(ethertypeOf(packet)), packet);
  return { linkType: DLT_LINUX_SLL, frame, ipOffset: 16 + (vlan === undefined ? 0 : 4) };
}

/** A Linux cooked v2 frame. */
export function sll2(packet: Uint8Array): Framed {
  const head = new Uint8Array(20);
  head.set(be16(ethertypeOf(packet)));
  head.set([0, 0, 0, 2, 0, 1, 0, 6, 2, 0x77, 0, 0, 0, 2], 4);
  return { linkType: DLT_LINUX_SLL2, frame: concat(head, packet), ipOffset: 20 };
}

/** A BSD loopback frame: `DLT_NULL` in either byte order, or `DLT_LOOP` (network order). */
export function loopback(
  packet: Uint8Array,
  linkType: typeof DLT_NULL | typeof DLT_LOOP,
  family: number,
  littleEndian = true,
): Framed {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, family, linkType === DLT_NULL && littleEndian);
  return { linkType, frame: concat(head, packet), ipOffset: 4 };
}

/** The packet as is, under one of the raw link types. */
export function rawIp(packet: Uint8Array, linkType: number = LINKTYPE_RAW): Framed {
  return { linkType, frame: packet.slice(), ipOffset: 0 };
}

/** The packet under every link type that can carry it. */
export function allFramings(packet: Uint8Array): Framed[] {
  const v6 = packet[0]! >> 4 === 6;
  return [
    ethernet(packet),
    ethernet(packet, [[0x88a8, 100], [ETHERTYPE_VLAN, 7]], new Uint8Array([0xee, 0xee])),
    sll(packet),
    sll(packet, 7),
    sll2(packet),
    loopback(packet, DLT_NULL, v6 ? 10 : 2, true),
    loopback(packet, DLT_NULL, v6 ? 30 : 2, false),
    loopback(packet, DLT_LOOP, v6 ? 24 : 2),
    rawIp(packet, DLT_RAW),
    rawIp(packet, DLT_RAW_OPENBSD),
    rawIp(packet, LINKTYPE_RAW),
    rawIp(packet, v6 ? DLT_IPV6 : DLT_IPV4),
  ];
}

/**
 * Inserts a chain of IPv6 extension headers, each `[type, bytes]`, after the fixed header of an
 * IPv6 packet; sets each header's next-header byte and the payload length.
 */
export function withIpv6ExtensionHeaders(
  packet: Uint8Array,
  chain: readonly (readonly [number, Uint8Array])[],
): Uint8Array {
  const out = new Uint8Array(packet.length + chain.reduce((sum, [, h]) => sum + h.length, 0));
  out.set(packet.subarray(0, 40));
  let next = packet[6]!;
  for (const [type, bytes] of [...chain].reverse()) {
    bytes[0] = next;
    next = type;
  }
  out[6] = next;
  let offset = 40;
  for (const [, bytes] of chain) {
    out.set(bytes, offset);
    offset += bytes.length;
  }
  out.set(packet.subarray(40), offset);
  new DataView(out.buffer).setUint16(4, out.length - 40);
  return out;
}

/**
 * Inserts IPv4 options (a multiple of 4 bytes) after the 20-byte header of an IPv4 packet; fixes
 * the header length, the total length and the header checksum.
 */
export function withIpv4Options(packet: Uint8Array, options: Uint8Array): Uint8Array {
  const header = 20 + options.length;
  const out = new Uint8Array(packet.length + options.length);
  out.set(packet.subarray(0, 20));
  out.set(options, 20);
  out.set(packet.subarray(20), header);
  out[0] = 0x40 | (header / 4);
  const view = new DataView(out.buffer);
  view.setUint16(2, out.length);
  view.setUint16(10, 0);
  view.setUint16(10, checksumFinish(checksumAdd(0, out, 0, header)));
  return out;
}
