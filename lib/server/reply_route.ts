/**
 * Where an answer to a packet goes: back the way it came. A TCP carrier is answered with a RST
 * from the address and port it was sent to (the paper's choice: it passes most firewalls), a UDP
 * carrier with a datagram from its destination port to its source port; other carriers (ICMP, say)
 * get no answer, though a knock on them still opens its port.
 *
 * @module
 */

import { IPPROTO_TCP, IPPROTO_UDP, TCP_ACK, TCP_RST, TCP_SYN } from "../packet/constants.ts";
import { encodeTcpPacket, encodeUdpPacket } from "../packet/encode.ts";
import type { PacketView } from "../packet/view.ts";
import type { L4Protocol } from "../protocol/port.ts";

/** How to answer one packet. */
export interface ReplyRoute {
  readonly transport: L4Protocol | "none";
  /** Our address: the packet's destination (4 or 16 bytes). */
  readonly local: Uint8Array;
  /** The sender's address (4 or 16 bytes). */
  readonly remote: Uint8Array;
  readonly localPort: number;
  readonly remotePort: number;
  /** For TCP: the sequence and acknowledgment numbers of the RST. */
  readonly sequence: number;
  readonly acknowledgment: number;
}

/**
 * The route back for a decoded packet (copies what it needs out of the reused frame).
 *
 * @example
 * ```ts
 * import { replyRouteOf } from "./reply_route.ts";
 * import { decodeFrame } from "../packet/decode.ts";
 * import { encodeUdpPacket } from "../packet/encode.ts";
 * import { LINKTYPE_RAW } from "../packet/constants.ts";
 * import { PacketView } from "../packet/view.ts";
 * const frame = encodeUdpPacket({
 *   source: new Uint8Array([10, 77, 0, 2]),
 *   destination: new Uint8Array([10, 77, 0, 1]),
 *   sourcePort: 40000,
 *   destinationPort: 62201,
 *   payload: new Uint8Array(37),
 * });
 * const view = new PacketView();
 * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
 * const route = replyRouteOf(frame, view);
 * if (route.transport !== "udp" || route.remotePort !== 40000) throw new Error("unexpected");
 * ```
 */
export function replyRouteOf(frame: Uint8Array, view: PacketView): ReplyRoute {
  const transport = view.protocol === IPPROTO_TCP
    ? "tcp"
    : view.protocol === IPPROTO_UDP
    ? "udp"
    : "none";
  // A RST answering a SYN acknowledges the SYN and its data (RFC 9293 3.10.7.1).
  const syn = (view.tcpFlags & TCP_SYN) !== 0;
  const acknowledgment = (view.tcpSequence + view.payloadLength + (syn ? 1 : 0)) >>> 0;
  return {
    transport,
    local: view.destinationAddress(frame).slice(),
    remote: view.sourceAddress(frame).slice(),
    localPort: view.destinationPort,
    remotePort: view.sourcePort,
    sequence: syn ? 0 : view.tcpAcknowledgment,
    acknowledgment,
  };
}

/**
 * The IP packet answering along `route` with `trailer` as payload, or `undefined` for carriers
 * that get no answer.
 *
 * @example
 * ```ts
 * import { replyPacket, type ReplyRoute } from "./reply_route.ts";
 * const route: ReplyRoute = {
 *   transport: "udp",
 *   local: new Uint8Array([10, 77, 0, 1]),
 *   remote: new Uint8Array([10, 77, 0, 2]),
 *   localPort: 62201,
 *   remotePort: 40000,
 *   sequence: 0,
 *   acknowledgment: 0,
 * };
 * const packet = replyPacket(route, new Uint8Array(37)); // an IPv4 UDP packet to 10.77.0.2:40000
 * if (packet === undefined || packet.length !== 20 + 8 + 37) throw new Error("unexpected");
 * if (replyPacket({ ...route, transport: "none" }, new Uint8Array(37)) !== undefined) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function replyPacket(route: ReplyRoute, trailer: Uint8Array): Uint8Array | undefined {
  switch (route.transport) {
    case "tcp":
      return encodeTcpPacket({
        source: route.local,
        destination: route.remote,
        sourcePort: route.localPort,
        destinationPort: route.remotePort,
        sequence: route.sequence,
        acknowledgment: route.acknowledgment,
        flags: TCP_RST | TCP_ACK,
        payload: trailer,
      });
    case "udp":
      return encodeUdpPacket({
        source: route.local,
        destination: route.remote,
        sourcePort: route.localPort,
        destinationPort: route.remotePort,
        payload: trailer,
      });
    case "none":
      return undefined;
  }
}
