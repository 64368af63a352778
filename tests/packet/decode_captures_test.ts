import { deepStrictEqual, equal, ok } from "node:assert/strict";
import {
  decodeFrame,
  DLT_EN10MB,
  DLT_LINUX_SLL,
  DLT_LINUX_SLL2,
  IPPROTO_ESP,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  LINKTYPE_RAW,
  PacketView,
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
} from "../../lib/packet/mod.ts";
import { ascii, type Capture, decodeAll, type Decoded, hex, loadCapture } from "./_captures.ts";

const ethernet = await loadCapture("ethernet.pcap");
const sll2 = await loadCapture("any-sll2.pcap");
const sll = await loadCapture("any-sll.pcap");
const raw = await loadCapture("raw.pcap");

/** The one decoded frame whose TCP/UDP payload is `text`. */
function byPayload(capture: Capture, text: string): Decoded[] {
  return decodeAll(capture).filter((d) =>
    d.status === "ok" && ascii(d.view.payload(d.frame)) === text
  );
}

function only<T>(list: T[]): T {
  equal(list.length, 1, `expected exactly one match, found ${list.length}`);
  return list[0]!;
}

Deno.test("captures have the link types their names promise", () => {
  equal(ethernet.linkType, DLT_EN10MB);
  equal(sll2.linkType, DLT_LINUX_SLL2);
  equal(sll.linkType, DLT_LINUX_SLL);
  equal(raw.linkType, LINKTYPE_RAW);
});

for (const capture of [ethernet, sll2, sll, raw]) {
  Deno.test(`decodeFrame() agrees with tshark on every frame of ${capture.file}`, () => {
    equal(capture.frames.length, capture.expected.length);
    // A reused buffer longer than any frame, with junk after the captured bytes.
    const buffer = new Uint8Array(4096).fill(0xcc);
    const view = new PacketView();
    for (const [index, frame] of capture.frames.entries()) {
      const expected = capture.expected[index]!;
      buffer.fill(0xcc);
      buffer.set(frame);
      const status = decodeFrame(capture.linkType, buffer, frame.length, view);
      const where = `${capture.file} frame ${index + 1}`;
      equal(status, expected.status, where);
      if (status !== "ok") continue;
      const actual: Record<string, unknown> = {
        frame: index,
        status,
        family: view.family,
        source: view.formatSource(buffer),
        destination: view.formatDestination(buffer),
        ipLength: view.ipLength,
        protocol: view.protocol,
      };
      switch (view.protocol) {
        case IPPROTO_TCP:
          Object.assign(actual, {
            sourcePort: view.sourcePort,
            destinationPort: view.destinationPort,
            tcpFlags: view.tcpFlags,
            tcpSequence: view.tcpSequence,
            tcpAcknowledgment: view.tcpAcknowledgment,
            payloadLength: view.payloadLength,
          });
          if (expected.payload !== undefined) actual.payload = hex(view.payload(buffer));
          break;
        case IPPROTO_UDP:
          Object.assign(actual, {
            sourcePort: view.sourcePort,
            destinationPort: view.destinationPort,
            payloadLength: view.payloadLength,
            payload: hex(view.payload(buffer)),
          });
          break;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6:
          Object.assign(actual, { icmpType: view.icmpType, icmpCode: view.icmpCode });
          break;
      }
      deepStrictEqual(actual, expected, where);
      // Whatever the protocol, the payload runs to the end of the IP packet (UDP: its datagram).
      const ipEnd = view.ipOffset + view.ipLength;
      ok(ipEnd <= frame.length, where);
      if (view.protocol === IPPROTO_UDP) ok(view.payloadOffset + view.payloadLength <= ipEnd);
      else equal(view.payloadOffset + view.payloadLength, ipEnd, where);
    }
  });
}

Deno.test("decodeFrame() reads a UDP datagram behind an 802.1Q tag", () => {
  const d = only(byPayload(ethernet, "vlan 7 payload, long enough to hold a trailer of 37"));
  deepStrictEqual([...d.frame.subarray(12, 16)], [0x81, 0x00, 0x00, 0x07]);
  equal(d.view.ipOffset, 18);
  equal(d.view.formatSource(d.frame), "10.77.0.2");
  equal(d.view.destinationPort, 7007);
});

Deno.test("decodeFrame() walks a Q-in-Q stack (802.1ad, then 802.1Q) to IPv6", () => {
  const d = only(byPayload(ethernet, "q-in-q payload over IPv6, long enough to hold a trailer"));
  deepStrictEqual([...d.frame.subarray(12, 20)], [0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 7]);
  equal(d.view.family, 6);
  equal(d.view.ipOffset, 22);
  equal(d.view.formatDestination(d.frame), "fd77::1");
});

Deno.test("decodeFrame() reads the VLAN tag libpcap puts back into a cooked v1 header", () => {
  const d = only(byPayload(sll, "vlan 7 payload, long enough to hold a trailer of 37"));
  deepStrictEqual([...d.frame.subarray(14, 18)], [0x81, 0x00, 0x00, 0x07]);
  equal(d.view.ipOffset, 20);
  // Cooked v2 drops the tag: the same datagram comes as plain IPv4.
  const v2 = only(byPayload(sll2, "vlan 7 payload, long enough to hold a trailer of 37"));
  equal(v2.view.ipOffset, 20);
  deepStrictEqual([...v2.frame.subarray(0, 2)], [0x08, 0x00]);
});

Deno.test("decodeFrame() refuses a Q-in-Q frame as the any device delivers it", () => {
  // The kernel strips the outer tag and leaves the inner tag's last four bytes in front of the
  // IPv6 header while the protocol field already says IPv6: the "header" has version 0.
  for (const capture of [sll, sll2]) {
    const bad = decodeAll(capture).filter((d) => d.status === "bad-ip");
    equal(bad.length, 1, capture.file);
    ok(ascii(bad[0]!.frame).includes("q-in-q payload"), capture.file);
  }
});

Deno.test("decodeFrame() ends the payload at the IP packet, not at Ethernet padding", () => {
  const tiny = only(byPayload(ethernet, "tiny"));
  equal(tiny.frame.length, 60);
  equal(tiny.frame[59], 0xee);
  equal(tiny.view.payloadLength, 4);
  equal(tiny.view.tailOffset(37), -1);
  const text = "forty bytes of payload: the trailer end!";
  const forty = only(byPayload(ethernet, text));
  equal(forty.frame.length, 14 + 20 + 8 + 40 + 20);
  const tail = forty.view.tailOffset(37);
  equal(ascii(forty.frame.subarray(tail, tail + 37)), text.slice(3));
});

Deno.test("decodeFrame() skips IPv4 options (record route, router alert)", () => {
  const withOptions = decodeAll(ethernet).filter((d) =>
    d.status === "ok" && d.view.family === 4 && (d.frame[d.view.ipOffset]! & 0x0f) > 5
  );
  // ping -R: the request and the reply carry record route; the IGMP report a router alert.
  const echoes = withOptions.filter((d) => d.view.protocol === IPPROTO_ICMP);
  deepStrictEqual(echoes.map((d) => d.view.icmpType), [8, 0]);
  for (const d of echoes) {
    // Record route (7) first in the reply; iputils puts a NOP (1) in front of it in the request.
    const options = [...d.frame.subarray(d.view.ipOffset + 20, d.view.ipOffset + 22)];
    ok(options[0] === 7 || (options[0] === 1 && options[1] === 7), `options ${options}`);
    equal(d.view.transportOffset, d.view.ipOffset + (d.frame[d.view.ipOffset]! & 0x0f) * 4);
  }
  // IGMP reports (when the capture caught one) carry a router alert: 4 bytes of options.
  for (const d of withOptions.filter((d) => d.view.protocol === 2)) {
    equal(d.view.transportOffset, d.view.ipOffset + 24);
  }
  // A UDP datagram behind a router alert, written into the tun device.
  const text = "raw ip payload, long enough to hold the 37-byte trailer";
  const udp = byPayload(raw, text).filter((d) =>
    d.view.family === 4 && d.view.sourcePort === 40012
  );
  equal(only(udp).view.transportOffset, 24);
});

Deno.test("decodeFrame() walks IPv6 extension headers", () => {
  const text = "raw ip payload, long enough to hold the 37-byte trailer";
  const v6 = byPayload(raw, text).filter((d) => d.view.family === 6);
  // Plain, destination options, hop-by-hop + routing + destination options, AH (TCP), atomic
  // fragment: the transport header sits after 0, 8, 48, 24 and 8 bytes of extension headers.
  deepStrictEqual(v6.map((d) => d.view.transportOffset - 40), [0, 8, 48, 24, 8]);
  deepStrictEqual(v6.map((d) => d.view.protocol), [17, 17, 17, 6, 17]);
  deepStrictEqual(v6.map((d) => d.frame[6]), [17, 60, 0, 51, 44]);
  // MLD reports behind a hop-by-hop header, from the kernel itself.
  const mld = decodeAll(ethernet).filter((d) =>
    d.status === "ok" && d.view.protocol === IPPROTO_ICMPV6 && d.view.icmpType === 143
  );
  ok(mld.length > 0);
  for (const d of mld) {
    equal(d.frame[d.view.ipOffset + 6], 0);
    equal(d.view.transportOffset, d.view.ipOffset + 48);
  }
});

Deno.test("decodeFrame() stops at ESP and hands over what follows as payload", () => {
  const esp = only(decodeAll(raw).filter((d) => d.view.protocol === IPPROTO_ESP));
  equal(esp.status, "ok");
  equal(esp.view.payloadOffset, 40);
  equal(esp.view.payloadLength, esp.frame.length - 40);
  equal(esp.view.sourcePort, 0);
});

Deno.test("decodeFrame() refuses first and later fragments, IPv4 and IPv6", () => {
  const statuses = decodeAll(ethernet).map((d) => d.status);
  const fragments = decodeAll(ethernet).filter((d) => d.status === "fragment");
  equal(fragments.length, 8);
  equal(statuses.filter((s) => s === "fragment").length, 8);
  // Two pings of 2000 bytes each way: a 1514-byte first fragment and a short second one.
  deepStrictEqual(fragments.map((d) => d.frame.length), [
    1514,
    562,
    1514,
    562,
    1510,
    622,
    1510,
    622,
  ]);
});

Deno.test("decodeFrame() reads knock-shaped SYNs and a RST carrying a payload", () => {
  const trailer = new Uint8Array(37).map((_, i) => 0xa0 + i);
  const knocks = decodeAll(ethernet).filter((d) =>
    d.status === "ok" && d.view.protocol === IPPROTO_TCP && d.view.payloadLength === 37 &&
    hex(d.view.payload(d.frame)) === hex(trailer)
  );
  equal(knocks.length, 3);
  const [v4, v6, rst] = knocks as [Decoded, Decoded, Decoded];
  equal(v4.view.tcpFlags, TCP_SYN);
  equal(v4.view.tcpSequence, 0xdeadbeef);
  equal(v4.view.tailOffset(37), v4.view.payloadOffset);
  equal(v6.view.family, 6);
  equal(v6.view.tcpSequence, 4_000_000_000);
  equal(rst.view.tcpFlags, TCP_RST | TCP_ACK);
  equal(rst.view.tcpAcknowledgment, 0x12345678);
  // The kernel's answer to a SYN carrying 37 bytes acknowledges them: 0xdeadbeef + 1 + 37.
  const answer = only(decodeAll(ethernet).filter((d) => d.view.destinationPort === 40003));
  equal(answer.view.tcpAcknowledgment, (0xdeadbeef + 38) >>> 0);
});

Deno.test("decodeFrame() calls ARP not IP", () => {
  const arp = decodeAll(ethernet).filter((d) => d.frame[12] === 0x08 && d.frame[13] === 0x06);
  ok(arp.length >= 3);
  for (const d of arp) equal(d.status, "not-ip");
});
