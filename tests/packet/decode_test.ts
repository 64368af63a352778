import { deepStrictEqual, equal, notEqual } from "node:assert/strict";
import {
  decodeFrame,
  type DecodeStatus,
  DLT_EN10MB,
  DLT_IPV4,
  DLT_IPV6,
  DLT_LOOP,
  DLT_NULL,
  encodeTcpPacket,
  encodeUdpPacket,
  ETHERTYPE_VLAN,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_NONE,
  LINKTYPE_RAW,
  MAX_IPV6_EXTENSION_HEADERS,
  MAX_VLAN_TAGS,
  PacketView,
  parseAddress,
  TCP_ACK,
  TCP_PSH,
} from "../../lib/packet/mod.ts";
import {
  allFramings,
  ethernet,
  loopback,
  rawIp,
  withIpv4Options,
  withIpv6ExtensionHeaders,
} from "./_frames.ts";

const V4 = { source: parseAddress("10.77.0.2")!, destination: parseAddress("10.77.0.1")! };
const V6 = { source: parseAddress("fd77::2")!, destination: parseAddress("fd77::1")! };
const PAYLOAD = new TextEncoder().encode("a payload long enough for a 37-byte trailer, and more");

const udp4 = () =>
  encodeUdpPacket({ ...V4, sourcePort: 40000, destinationPort: 62201, payload: PAYLOAD });
const tcp6 = () =>
  encodeTcpPacket({
    ...V6,
    sourcePort: 40000,
    destinationPort: 22,
    sequence: 0xfffffffe,
    acknowledgment: 0x80000000,
    flags: TCP_PSH | TCP_ACK,
    options: new Uint8Array([2, 4, 5, 0xb4]),
    payload: PAYLOAD,
  });

function decode(linkType: number, frame: Uint8Array, length = frame.length) {
  const view = new PacketView();
  const status = decodeFrame(linkType, frame, length, view);
  return { status, view };
}

function statusOf(linkType: number, frame: Uint8Array, length = frame.length): DecodeStatus {
  return decode(linkType, frame, length).status;
}

function setUint16(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  new DataView(bytes.buffer, bytes.byteOffset).setUint16(offset, value);
  return bytes;
}

/** An IPv6 UDP packet whose datagram sits behind `headers` (each [type, bytes]). */
function ipv6With(headers: [number, Uint8Array][]): Uint8Array {
  const inner = encodeUdpPacket({ ...V6, sourcePort: 1, destinationPort: 2, payload: PAYLOAD });
  return withIpv6ExtensionHeaders(inner, headers);
}

Deno.test("decodeFrame() reads the same packet under every link type", () => {
  for (const packet of [udp4(), tcp6()]) {
    const reference = decode(LINKTYPE_RAW, packet).view;
    for (const { linkType, frame, ipOffset } of allFramings(packet)) {
      const { status, view } = decode(linkType, frame);
      equal(status, "ok", `link type ${linkType}`);
      equal(view.ipOffset, ipOffset, `link type ${linkType}`);
      deepStrictEqual(view.payload(frame), reference.payload(packet));
      deepStrictEqual(
        [view.family, view.protocol, view.sourcePort, view.tcpSequence, view.tcpAcknowledgment],
        [
          reference.family,
          reference.protocol,
          reference.sourcePort,
          reference.tcpSequence,
          reference.tcpAcknowledgment,
        ],
      );
    }
  }
});

Deno.test("decodeFrame() reads unsigned TCP numbers and skips TCP options", () => {
  const packet = tcp6();
  const { view } = decode(LINKTYPE_RAW, packet);
  equal(view.tcpSequence, 0xfffffffe);
  equal(view.tcpAcknowledgment, 0x80000000);
  equal(view.tcpFlags, TCP_PSH | TCP_ACK);
  equal(view.transportOffset, 40);
  equal(view.payloadOffset, 40 + 24);
  equal(view.tailOffset(37), packet.length - 37);
});

Deno.test("decodeFrame() reads the loopback family in either byte order", () => {
  for (const [family, packet] of [[2, udp4()], [10, tcp6()], [24, tcp6()], [28, tcp6()]] as const) {
    equal(statusOf(DLT_NULL, loopback(packet, DLT_NULL, family, true).frame), "ok");
    equal(statusOf(DLT_NULL, loopback(packet, DLT_NULL, family, false).frame), "ok");
    equal(statusOf(DLT_LOOP, loopback(packet, DLT_LOOP, family).frame), "ok");
  }
  equal(statusOf(DLT_NULL, loopback(udp4(), DLT_NULL, 7).frame), "not-ip");
  // DLT_LOOP is always network order: a little-endian 2 is 0x02000000, no family.
  equal(statusOf(DLT_LOOP, loopback(udp4(), DLT_NULL, 2, true).frame), "not-ip");
  // The family word says IPv4 but the header is IPv6.
  equal(statusOf(DLT_NULL, loopback(tcp6(), DLT_NULL, 2).frame), "bad-ip");
});

Deno.test("decodeFrame() refuses an IP version the link header contradicts", () => {
  equal(statusOf(DLT_IPV4, tcp6()), "bad-ip");
  equal(statusOf(DLT_IPV6, udp4()), "bad-ip");
  const frame = ethernet(udp4()).frame;
  setUint16(frame, 12, 0x86dd);
  equal(statusOf(DLT_EN10MB, frame), "bad-ip");
  const packet = udp4();
  packet[0] = 0x55;
  equal(statusOf(LINKTYPE_RAW, packet), "bad-ip");
});

Deno.test("decodeFrame() reports unknown link types and non-IP frames", () => {
  for (const linkType of [2, 105, 127, 9999, -1, NaN]) {
    equal(statusOf(linkType, udp4()), "unsupported-link");
  }
  const frame = ethernet(udp4()).frame;
  setUint16(frame, 12, 0x0806); // ARP
  equal(statusOf(DLT_EN10MB, frame), "not-ip");
  setUint16(frame, 12, 0x0040); // an 802.3 length field
  equal(statusOf(DLT_EN10MB, frame), "not-ip");
});

Deno.test("decodeFrame() clamps the captured length and refuses nonsense lengths", () => {
  const packet = udp4();
  equal(statusOf(LINKTYPE_RAW, packet, packet.length + 1000), "ok");
  equal(statusOf(LINKTYPE_RAW, packet, Infinity), "ok");
  for (const length of [NaN, -1, -Infinity, 0]) {
    equal(statusOf(LINKTYPE_RAW, packet, length), "truncated");
  }
  equal(statusOf(LINKTYPE_RAW, packet, packet.length - 0.5), "truncated");
  equal(statusOf(LINKTYPE_RAW, new Uint8Array(0), 10), "truncated");
});

Deno.test("decodeFrame() calls every prefix cut before the IP packet's end truncated", () => {
  for (const framed of [...allFramings(udp4()), ...allFramings(tcp6())]) {
    const ipEnd = framed.frame.length - (framed.frame.length - framed.ipOffset -
      decode(framed.linkType, framed.frame).view.ipLength);
    for (let length = 0; length < ipEnd; length++) {
      equal(statusOf(framed.linkType, framed.frame, length), "truncated", `${length}`);
    }
    equal(statusOf(framed.linkType, framed.frame, ipEnd), "ok");
  }
});

Deno.test("decodeFrame() walks up to MAX_VLAN_TAGS tags", () => {
  const tags = (n: number) => Array.from({ length: n }, () => [ETHERTYPE_VLAN, 7] as const);
  equal(statusOf(DLT_EN10MB, ethernet(udp4(), tags(MAX_VLAN_TAGS)).frame), "ok");
  equal(statusOf(DLT_EN10MB, ethernet(udp4(), tags(MAX_VLAN_TAGS + 1)).frame), "bad-link");
  const frame = ethernet(udp4(), tags(3)).frame;
  equal(statusOf(DLT_EN10MB, frame, 14 + 4 * 2 + 1), "truncated");
  for (const tpid of [0x8100, 0x88a8, 0x9100]) {
    const { status, view } = decode(DLT_EN10MB, ethernet(udp4(), [[tpid, 1]]).frame);
    equal(status, "ok");
    equal(view.ipOffset, 18);
  }
});

Deno.test("decodeFrame() refuses malformed IPv4 headers and fragments", () => {
  const cases: [string, (p: Uint8Array) => void, DecodeStatus][] = [
    ["IHL 4", (p) => (p[0] = 0x44), "bad-ip"],
    ["IHL 15 beyond the total length", (p) => setUint16(p, 2, 59)[0] = 0x4f, "bad-ip"],
    ["total length below the header", (p) => setUint16(p, 2, 19), "bad-ip"],
    ["total length beyond the capture", (p) => setUint16(p, 2, p.length + 1), "truncated"],
    ["more fragments", (p) => setUint16(p, 6, 0x2000), "fragment"],
    ["a later fragment", (p) => setUint16(p, 6, 0x0001), "fragment"],
    ["the last fragment", (p) => setUint16(p, 6, 0x4000 | 0x00b9), "fragment"],
    ["don't fragment only", (p) => setUint16(p, 6, 0x4000), "ok"],
    ["the reserved flag", (p) => setUint16(p, 6, 0x8000), "ok"],
  ];
  for (const [name, patch, expected] of cases) {
    const packet = udp4();
    patch(packet);
    equal(statusOf(LINKTYPE_RAW, packet), expected, name);
  }
  // Options: the transport header follows them; the total length still ends the payload.
  const packet = udp4();
  const withOptions = withIpv4Options(packet, new Uint8Array([1, 1, 1, 1, 1, 1, 1, 0]));
  const { status, view } = decode(LINKTYPE_RAW, withOptions);
  equal(status, "ok");
  equal(view.transportOffset, 28);
  deepStrictEqual(view.payload(withOptions), PAYLOAD);
});

Deno.test("decodeFrame() walks IPv6 extension headers up to the limit", () => {
  const dstopts = () => [IPPROTO_DSTOPTS, new Uint8Array(8)] as [number, Uint8Array];
  const under = ipv6With(Array.from({ length: MAX_IPV6_EXTENSION_HEADERS }, dstopts));
  const { status, view } = decode(LINKTYPE_RAW, under);
  equal(status, "ok");
  equal(view.transportOffset, 40 + 8 * MAX_IPV6_EXTENSION_HEADERS);
  deepStrictEqual(view.payload(under), PAYLOAD);
  const over = ipv6With(Array.from({ length: MAX_IPV6_EXTENSION_HEADERS + 1 }, dstopts));
  equal(statusOf(LINKTYPE_RAW, over), "bad-ip");
  // A header whose length runs past the packet.
  const long = ipv6With([dstopts()]);
  long[41] = 200;
  equal(statusOf(LINKTYPE_RAW, long), "bad-ip");
  // An extension header that does not fit at all.
  const cut = new Uint8Array(44);
  cut.set([0x60, 0, 0, 0, 0, 4, IPPROTO_DSTOPTS, 64]);
  equal(statusOf(LINKTYPE_RAW, cut), "bad-ip");
});

Deno.test("decodeFrame() refuses IPv6 fragments but reads atomic ones", () => {
  const fragment = (offsetWord: number) => {
    const header = new Uint8Array(8);
    setUint16(header, 2, offsetWord);
    return ipv6With([[IPPROTO_FRAGMENT, header]]);
  };
  equal(statusOf(LINKTYPE_RAW, fragment(0x0001)), "fragment"); // first, more to come
  equal(statusOf(LINKTYPE_RAW, fragment(0x05a8)), "fragment"); // last, offset 181 * 8
  equal(statusOf(LINKTYPE_RAW, fragment(0x0006)), "ok"); // reserved bits only: atomic
  const atomic = fragment(0);
  const { status, view } = decode(LINKTYPE_RAW, atomic);
  equal(status, "ok");
  equal(view.transportOffset, 48);
  deepStrictEqual(view.payload(atomic), PAYLOAD);
});

Deno.test("decodeFrame() refuses IPv6 lengths that contradict the capture", () => {
  const packet = tcp6();
  setUint16(packet, 4, packet.length - 40 + 1);
  equal(statusOf(LINKTYPE_RAW, packet), "truncated");
  setUint16(packet, 4, 0); // a jumbogram or a lie: no room for TCP
  equal(statusOf(LINKTYPE_RAW, packet), "bad-transport");
  // "No next header": whatever the payload length covers is handed over.
  const none = tcp6();
  none[6] = IPPROTO_NONE;
  const { status, view } = decode(LINKTYPE_RAW, none);
  equal(status, "ok");
  equal(view.payloadOffset, 40);
  equal(view.payloadLength, none.length - 40);
});

Deno.test("decodeFrame() refuses transport headers that do not fit the IP packet", () => {
  const tcp = (patch: (p: Uint8Array) => void) => {
    const p = tcp6();
    patch(p);
    return statusOf(LINKTYPE_RAW, p);
  };
  equal(tcp((p) => (p[40 + 12] = 0x40)), "bad-transport"); // data offset 4
  equal(tcp((p) => (p[40 + 12] = 0xf0)), "ok"); // 60 bytes: still inside the packet
  const short = tcp6().slice(0, 40 + 24);
  setUint16(short, 4, 24);
  short[40 + 12] = 0x70; // 28 bytes of header in 24
  equal(statusOf(LINKTYPE_RAW, short), "bad-transport");
  const tiny = tcp6().slice(0, 40 + 19);
  setUint16(tiny, 4, 19);
  equal(statusOf(LINKTYPE_RAW, tiny), "bad-transport");
  const udp = (length: number) => statusOf(LINKTYPE_RAW, setUint16(udp4(), 24, length));
  equal(udp(7), "bad-transport");
  equal(udp(8 + PAYLOAD.length + 1), "bad-transport");
  equal(udp(8 + PAYLOAD.length), "ok");
  // A UDP length shorter than the IP payload ends the payload.
  const trimmed = setUint16(udp4(), 24, 8 + 10);
  const { view } = decode(LINKTYPE_RAW, trimmed);
  equal(view.payloadLength, 10);
  equal(view.tailOffset(37), -1);
  const icmp = udp4().slice(0, 27);
  icmp[9] = 1;
  setUint16(icmp, 2, 27);
  equal(statusOf(LINKTYPE_RAW, icmp), "bad-transport");
  equal(statusOf(LINKTYPE_RAW, setUint16(icmp.slice(), 2, 20)), "bad-transport");
});

Deno.test("decodeFrame() hands over what follows the IP header of other protocols", () => {
  const packet = udp4();
  packet[9] = 132; // SCTP
  const { status, view } = decode(LINKTYPE_RAW, packet);
  equal(status, "ok");
  equal(view.protocol, 132);
  equal(view.sourcePort, 0);
  equal(view.payloadOffset, 20);
  equal(view.payloadLength, packet.length - 20);
});

Deno.test("decodeFrame() clears the transport fields of the previous frame", () => {
  const view = new PacketView();
  equal(decodeFrame(LINKTYPE_RAW, tcp6(), tcp6().length, view), "ok");
  notEqual(view.tcpFlags, 0);
  const icmp = udp4();
  icmp[9] = 1;
  equal(decodeFrame(LINKTYPE_RAW, icmp, icmp.length, view), "ok");
  deepStrictEqual(
    [view.sourcePort, view.destinationPort, view.tcpFlags, view.tcpSequence, view.family],
    [0, 0, 0, 0, 4],
  );
  equal(view.icmpType, 0x9c); // the first byte of the former UDP header
});

Deno.test("PacketView helpers copy addresses and format them", () => {
  const { frame } = rawIp(tcp6());
  const { view } = decode(LINKTYPE_RAW, frame);
  const source = view.sourceAddress(frame);
  frame[8] = 0;
  equal(source[0], 0xfd);
  equal(view.formatDestination(frame), "fd77::1");
  deepStrictEqual(view.destinationAddress(frame), V6.destination);
  equal(view.addressLength, 16);
  const payload = decode(LINKTYPE_RAW, udp4()).view;
  equal(payload.tailOffset(PAYLOAD.length), 28);
  equal(payload.tailOffset(PAYLOAD.length + 1), -1);
  equal(payload.tailOffset(0), 28 + PAYLOAD.length);
});
