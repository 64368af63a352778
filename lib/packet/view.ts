/**
 * The reusable result of {@linkcode decodeFrame}: offsets and header fields of one frame, held as
 * plain numbers so that decoding allocates nothing. The frame itself is not kept; the helpers take
 * it as an argument and allocate only when called.
 *
 * @module
 */

import { formatAddress, type IpFamily } from "./address.ts";
import { IPV4_ADDRESS_LENGTH, IPV6_ADDRESS_LENGTH } from "./constants.ts";

/**
 * A mutable view of one decoded frame, filled by {@linkcode decodeFrame}. Create one per capture
 * loop and pass it to every call. The fields are meaningful only after `decodeFrame` returned
 * `"ok"`, and only for the frame it was given (until that buffer is overwritten).
 *
 * @example
 * ```ts
 * import { PacketView } from "./view.ts";
 * import { decodeFrame } from "./decode.ts";
 * import { encodeUdpPacket } from "./encode.ts";
 * import { LINKTYPE_RAW } from "./constants.ts";
 * const packet = encodeUdpPacket({
 *   source: new Uint8Array([10, 77, 0, 2]),
 *   destination: new Uint8Array([10, 77, 0, 1]),
 *   sourcePort: 40000,
 *   destinationPort: 62201,
 *   payload: new TextEncoder().encode("hello"),
 * });
 * const view = new PacketView();
 * if (decodeFrame(LINKTYPE_RAW, packet, packet.length, view) !== "ok") throw new Error("rejected");
 * if (view.destinationPort !== 62201 || view.payloadLength !== 5) throw new Error("unexpected");
 * if (view.formatSource(packet) !== "10.77.0.2") throw new Error("unexpected");
 * ```
 */
export class PacketView {
  /** IP version: 4 or 6. */
  family: IpFamily = 4;
  /** IP protocol number of the transport header (after IPv6 extension headers), e.g. 6 or 17. */
  protocol = 0;
  /** Offset of the IP header in the frame. */
  ipOffset = 0;
  /** Length of the IP packet (IPv4 total length; IPv6 40 + payload length), padding excluded. */
  ipLength = 0;
  /** Offset of the source address (4 or 16 bytes, by `family`) in the frame. */
  sourceOffset = 0;
  /** Offset of the destination address (4 or 16 bytes, by `family`) in the frame. */
  destinationOffset = 0;
  /** Offset of the transport header (after IPv4 options and IPv6 extension headers). */
  transportOffset = 0;
  /** TCP or UDP source port; 0 for other protocols. */
  sourcePort = 0;
  /** TCP or UDP destination port; 0 for other protocols. */
  destinationPort = 0;
  /** TCP flags byte (`TCP_SYN`, `TCP_RST`, ...); 0 for other protocols. */
  tcpFlags = 0;
  /** TCP sequence number, unsigned; 0 for other protocols. */
  tcpSequence = 0;
  /** TCP acknowledgment number, unsigned; 0 for other protocols. */
  tcpAcknowledgment = 0;
  /** ICMP or ICMPv6 type; 0 for other protocols. */
  icmpType = 0;
  /** ICMP or ICMPv6 code; 0 for other protocols. */
  icmpCode = 0;
  /**
   * Offset of the transport payload: after the TCP header with options, the UDP header, the
   * 8-byte ICMP/ICMPv6 header, or, for other protocols, right after the IP headers.
   */
  payloadOffset = 0;
  /** Length of the transport payload; it ends where the IP packet (or UDP datagram) ends. */
  payloadLength = 0;

  /** Length of an address of this view's family: 4 or 16. */
  get addressLength(): number {
    return this.family === 4 ? IPV4_ADDRESS_LENGTH : IPV6_ADDRESS_LENGTH;
  }

  /**
   * Offset of the last `length` bytes of the payload (where a trailer of that length starts), or
   * -1 when the payload is shorter. Allocates nothing.
   *
   * @param length Length of the tail, e.g. the trailer length of `lib/protocol`.
   * @returns The offset in the frame, or -1.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * const view = new PacketView();
   * view.payloadOffset = 42;
   * view.payloadLength = 100;
   * if (view.tailOffset(37) !== 105 || view.tailOffset(101) !== -1) throw new Error("unexpected");
   * ```
   */
  tailOffset(length: number): number {
    return this.payloadLength >= length ? this.payloadOffset + this.payloadLength - length : -1;
  }

  /**
   * A copy of the source address bytes.
   *
   * @param frame The frame this view was decoded from.
   * @returns 4 or 16 bytes.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * import { decodeFrame } from "./decode.ts";
   * import { encodeUdpPacket } from "./encode.ts";
   * import { LINKTYPE_RAW } from "./constants.ts";
   * const frame = encodeUdpPacket({
   *   source: new Uint8Array([10, 77, 0, 2]),
   *   destination: new Uint8Array([10, 77, 0, 1]),
   *   sourcePort: 40000,
   *   destinationPort: 62201,
   *   payload: new TextEncoder().encode("hello"),
   * });
   * const view = new PacketView();
   * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
   * const source = view.sourceAddress(frame);
   * if (source.join(".") !== "10.77.0.2") throw new Error("unexpected");
   * ```
   */
  sourceAddress(frame: Uint8Array): Uint8Array {
    return frame.slice(this.sourceOffset, this.sourceOffset + this.addressLength);
  }

  /**
   * A copy of the destination address bytes.
   *
   * @param frame The frame this view was decoded from.
   * @returns 4 or 16 bytes.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * import { decodeFrame } from "./decode.ts";
   * import { encodeUdpPacket } from "./encode.ts";
   * import { LINKTYPE_RAW } from "./constants.ts";
   * const frame = encodeUdpPacket({
   *   source: new Uint8Array([10, 77, 0, 2]),
   *   destination: new Uint8Array([10, 77, 0, 1]),
   *   sourcePort: 40000,
   *   destinationPort: 62201,
   *   payload: new TextEncoder().encode("hello"),
   * });
   * const view = new PacketView();
   * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
   * const destination = view.destinationAddress(frame);
   * if (destination.join(".") !== "10.77.0.1") throw new Error("unexpected");
   * ```
   */
  destinationAddress(frame: Uint8Array): Uint8Array {
    return frame.slice(this.destinationOffset, this.destinationOffset + this.addressLength);
  }

  /**
   * The source address in text form (`10.77.0.2`, `fd77::2`).
   *
   * @param frame The frame this view was decoded from.
   * @returns The formatted address.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * import { decodeFrame } from "./decode.ts";
   * import { encodeUdpPacket } from "./encode.ts";
   * import { LINKTYPE_RAW } from "./constants.ts";
   * const frame = encodeUdpPacket({
   *   source: new Uint8Array([10, 77, 0, 2]),
   *   destination: new Uint8Array([10, 77, 0, 1]),
   *   sourcePort: 40000,
   *   destinationPort: 62201,
   *   payload: new TextEncoder().encode("hello"),
   * });
   * const view = new PacketView();
   * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
   * if (view.formatSource(frame) !== "10.77.0.2") throw new Error("unexpected");
   * ```
   */
  formatSource(frame: Uint8Array): string {
    return formatAddress(frame.subarray(this.sourceOffset, this.sourceOffset + this.addressLength));
  }

  /**
   * The destination address in text form.
   *
   * @param frame The frame this view was decoded from.
   * @returns The formatted address.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * import { decodeFrame } from "./decode.ts";
   * import { encodeUdpPacket } from "./encode.ts";
   * import { LINKTYPE_RAW } from "./constants.ts";
   * const frame = encodeUdpPacket({
   *   source: new Uint8Array([10, 77, 0, 2]),
   *   destination: new Uint8Array([10, 77, 0, 1]),
   *   sourcePort: 40000,
   *   destinationPort: 62201,
   *   payload: new TextEncoder().encode("hello"),
   * });
   * const view = new PacketView();
   * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
   * if (view.formatDestination(frame) !== "10.77.0.1") throw new Error("unexpected");
   * ```
   */
  formatDestination(frame: Uint8Array): string {
    const end = this.destinationOffset + this.addressLength;
    return formatAddress(frame.subarray(this.destinationOffset, end));
  }

  /**
   * The transport payload as a subarray of `frame` (no copy: it changes when the buffer is
   * reused).
   *
   * @param frame The frame this view was decoded from.
   * @returns The payload bytes.
   * @example
   * ```ts
   * import { PacketView } from "./view.ts";
   * import { decodeFrame } from "./decode.ts";
   * import { encodeUdpPacket } from "./encode.ts";
   * import { LINKTYPE_RAW } from "./constants.ts";
   * const frame = encodeUdpPacket({
   *   source: new Uint8Array([10, 77, 0, 2]),
   *   destination: new Uint8Array([10, 77, 0, 1]),
   *   sourcePort: 40000,
   *   destinationPort: 62201,
   *   payload: new TextEncoder().encode("hello"),
   * });
   * const view = new PacketView();
   * if (decodeFrame(LINKTYPE_RAW, frame, frame.length, view) !== "ok") throw new Error("rejected");
   * const payload = view.payload(frame);
   * if (new TextDecoder().decode(payload) !== "hello") throw new Error("unexpected");
   * ```
   */
  payload(frame: Uint8Array): Uint8Array {
    return frame.subarray(this.payloadOffset, this.payloadOffset + this.payloadLength);
  }
}
