/**
 * The crafted part of the capture traffic of `make_captures.ts`: frames the kernel's own tools do
 * not send (VLAN and Q-in-Q tags, Ethernet padding, trailing bytes, SYN and RST segments carrying
 * a payload) and IP packets with IPv4 options and IPv6 extension headers for the tun device.
 *
 * @module
 */

import {
  encodeTcpPacket,
  encodeUdpPacket,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_ROUTING,
  parseAddress,
  TCP_ACK,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from "../lib/packet/mod.ts";
import { unhex } from "../tests/packet/_captures.ts";
import { ethernet, withIpv4Options, withIpv6ExtensionHeaders } from "../tests/packet/_frames.ts";

const text = (s: string) => new TextEncoder().encode(s);
const addr = (s: string) => parseAddress(s)!;

/** An Ethernet frame from the client to the server, with `extra` bytes of 0xee after the packet. */
function frame(packet: Uint8Array, tags: [number, number][] = [], extra = 0): Uint8Array {
  return ethernet(packet, tags, new Uint8Array(extra).fill(0xee)).frame;
}

/** Frames the client sends out of its eth0 through a packet socket, to the server. */
export function clientFrames(): Uint8Array[] {
  const v4 = { source: addr("10.77.0.2"), destination: addr("10.77.0.1") };
  const v6 = { source: addr("fd77::2"), destination: addr("fd77::1") };
  const knock = new Uint8Array(37).map((_, i) => 0xa0 + i);
  const udp4 = (payload: string, port = 7007) =>
    encodeUdpPacket({ ...v4, sourcePort: 40001, destinationPort: port, payload: text(payload) });
  return [
    // 802.1Q tag, VLAN 7.
    frame(udp4("vlan 7 payload, long enough to hold a trailer of 37"), [[0x8100, 7]]),
    // Q-in-Q: 802.1ad service tag 100, then 802.1Q tag 7, IPv6 inside.
    frame(
      encodeUdpPacket({
        ...v6,
        sourcePort: 40002,
        destinationPort: 7007,
        payload: text("q-in-q payload over IPv6, long enough to hold a trailer"),
      }),
      [[0x88a8, 100], [0x8100, 7]],
    ),
    // A short datagram padded to the 60-byte Ethernet minimum with 0xee.
    frame(udp4("tiny"), [], 60 - 14 - 32),
    // 40 bytes of payload, then 20 bytes after the IP packet (as a frame check sequence would be).
    frame(udp4("forty bytes of payload: the trailer end!"), [], 20),
    // A knock-like SYN with a 37-byte payload, v4 and v6, and a RST+ACK carrying a payload.
    frame(
      encodeTcpPacket({
        ...v4,
        sourcePort: 40003,
        destinationPort: 22,
        sequence: 0xdeadbeef,
        flags: TCP_SYN,
        payload: knock,
      }),
    ),
    frame(
      encodeTcpPacket({
        ...v6,
        sourcePort: 40004,
        destinationPort: 22,
        sequence: 4000000000,
        flags: TCP_SYN,
        payload: knock,
      }),
    ),
    frame(
      encodeTcpPacket({
        ...v4,
        sourcePort: 40005,
        destinationPort: 22,
        sequence: 0,
        acknowledgment: 0x12345678,
        flags: TCP_RST | TCP_ACK,
        payload: knock,
      }),
    ),
    // An ARP request: not IP.
    unhex(
      "ffffffffffff02770000000208060001080006040001027700000002" + "0a4d0002000000000000" +
        "0a4d0001",
    ),
  ];
}

/** IP packets written into the server's tun device, as if they came from 10.77.0.202 / fd77::ca. */
export function tunPackets(): Uint8Array[] {
  const v4 = { source: addr("10.77.0.202"), destination: addr("10.77.0.201") };
  const v6 = { source: addr("fd77::ca"), destination: addr("fd77::c9") };
  const payload = text("raw ip payload, long enough to hold the 37-byte trailer");
  const udp6 = encodeUdpPacket({ ...v6, sourcePort: 40010, destinationPort: 7007, payload });
  const padN = (length: number) => {
    const bytes = new Uint8Array(length);
    bytes[1] = length / 8 - 1;
    bytes.set([1, length - 4], 2); // PadN option filling the rest
    return bytes;
  };
  const routing = new Uint8Array(24); // type 0 routing header, segments left 0, one address
  routing[1] = 2;
  const ah = new Uint8Array(24); // AH with a 12-byte ICV: length field (24 / 4) - 2 = 4
  ah[1] = 4;
  ah.set([0, 0, 0, 0x42, 0, 0, 0, 1], 4);
  const atomicFragment = new Uint8Array(8);
  atomicFragment.set([0, 0, 0, 0, 0x12, 0x34], 2);
  const esp = encodeUdpPacket({ ...v6, sourcePort: 0, destinationPort: 0, payload: text("esp") });
  esp[6] = IPPROTO_ESP;
  return [
    encodeUdpPacket({ ...v4, sourcePort: 40011, destinationPort: 7007, payload }),
    // IPv4 with a Router Alert option (IHL 6).
    withIpv4Options(
      encodeUdpPacket({ ...v4, sourcePort: 40012, destinationPort: 7007, payload }),
      new Uint8Array([0x94, 0x04, 0x00, 0x00]),
    ),
    encodeTcpPacket({
      ...v4,
      sourcePort: 40013,
      destinationPort: 22,
      sequence: 7,
      flags: TCP_SYN | TCP_PSH,
      payload,
    }),
    udp6,
    withIpv6ExtensionHeaders(udp6, [[IPPROTO_DSTOPTS, padN(8)]]),
    withIpv6ExtensionHeaders(udp6, [
      [0, padN(16)],
      [IPPROTO_ROUTING, routing],
      [IPPROTO_DSTOPTS, padN(8)],
    ]),
    withIpv6ExtensionHeaders(
      encodeTcpPacket({
        ...v6,
        sourcePort: 40014,
        destinationPort: 22,
        sequence: 9,
        flags: TCP_SYN,
        payload,
      }),
      [[IPPROTO_AH, ah]],
    ),
    withIpv6ExtensionHeaders(udp6, [[IPPROTO_FRAGMENT, atomicFragment]]),
    esp,
  ];
}
