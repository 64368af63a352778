/**
 * Encoders of whole IPv4/IPv6 packets (IP header included, checksums filled in) for a raw socket:
 * a TCP segment (a SYN or a RST carrying a payload) and a UDP datagram. The family follows from
 * the address length: 4 bytes for IPv4, 16 for IPv6.
 *
 * IPv4 packets carry "don't fragment" and no options; IPv6 packets carry no extension headers,
 * traffic class and flow label 0.
 *
 * @module
 */

import type { IpFamily } from "./address.ts";
import { checksumAdd, checksumAddWord, checksumFinish } from "./checksum.ts";
import {
  DEFAULT_TCP_WINDOW,
  DEFAULT_TTL,
  IP_MAX_LENGTH,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_ADDRESS_LENGTH,
  IPV4_FLAG_DONT_FRAGMENT,
  IPV4_HEADER_LENGTH,
  IPV6_ADDRESS_LENGTH,
  IPV6_HEADER_LENGTH,
  TCP_HEADER_LENGTH,
  TCP_MAX_HEADER_LENGTH,
  UDP_HEADER_LENGTH,
} from "./constants.ts";

/** Fields of {@linkcode encodeTcpPacket}. */
export interface TcpPacketOptions {
  /** Source address: 4 bytes (IPv4) or 16 bytes (IPv6). */
  source: Uint8Array;
  /** Destination address, of the same length as `source`. */
  destination: Uint8Array;
  /** Source port, 0 to 65535. */
  sourcePort: number;
  /** Destination port, 0 to 65535. */
  destinationPort: number;
  /** Sequence number, 0 to 2^32 - 1. */
  sequence: number;
  /** Acknowledgment number, 0 to 2^32 - 1; 0 unless given. */
  acknowledgment?: number;
  /** TCP flags byte, e.g. `TCP_SYN` or `TCP_RST | TCP_ACK`. */
  flags: number;
  /** Receive window, 0 to 65535; {@linkcode DEFAULT_TCP_WINDOW} unless given. */
  window?: number;
  /** TCP options, already padded: a multiple of 4 bytes, at most 40. None unless given. */
  options?: Uint8Array;
  /** Payload after the TCP header; empty unless given. */
  payload?: Uint8Array;
  /** IPv4 TTL or IPv6 hop limit, 1 to 255; {@linkcode DEFAULT_TTL} unless given. */
  ttl?: number;
  /** IPv4 identification, 0 to 65535; 0 unless given (ignored for IPv6). */
  identification?: number;
}

/** Fields of {@linkcode encodeUdpPacket}. */
export interface UdpPacketOptions {
  /** Source address: 4 bytes (IPv4) or 16 bytes (IPv6). */
  source: Uint8Array;
  /** Destination address, of the same length as `source`. */
  destination: Uint8Array;
  /** Source port, 0 to 65535. */
  sourcePort: number;
  /** Destination port, 0 to 65535. */
  destinationPort: number;
  /** Payload after the UDP header; empty unless given. */
  payload?: Uint8Array;
  /** IPv4 TTL or IPv6 hop limit, 1 to 255; {@linkcode DEFAULT_TTL} unless given. */
  ttl?: number;
  /** IPv4 identification, 0 to 65535; 0 unless given (ignored for IPv6). */
  identification?: number;
}

/**
 * Encodes a TCP segment inside an IPv4 or IPv6 packet, with IP (IPv4) and TCP checksums.
 *
 * @param options The header fields and payload.
 * @returns The whole IP packet.
 * @throws {TypeError} When the addresses are not both 4 or both 16 bytes long.
 * @throws {RangeError} When a field is out of range, the options are not a multiple of 4 bytes
 * up to 40, or the packet would exceed the IP length field.
 * @example
 * ```ts
 * import { encodeTcpPacket } from "./encode.ts";
 * import { TCP_SYN } from "./constants.ts";
 * const syn = encodeTcpPacket({
 *   source: new Uint8Array([10, 77, 0, 2]),
 *   destination: new Uint8Array([10, 77, 0, 1]),
 *   sourcePort: 40000,
 *   destinationPort: 22,
 *   sequence: 12345,
 *   flags: TCP_SYN,
 *   payload: new Uint8Array(37),
 * });
 * if (syn.length !== 20 + 20 + 37) throw new Error("unexpected");
 * ```
 */
export function encodeTcpPacket(options: TcpPacketOptions): Uint8Array {
  const family = addressFamily(options.source, options.destination);
  const tcpOptions = options.options ?? new Uint8Array(0);
  if (
    tcpOptions.length % 4 !== 0 || tcpOptions.length > TCP_MAX_HEADER_LENGTH - TCP_HEADER_LENGTH
  ) {
    throw new RangeError(
      `Cannot encode packet: TCP options must be a multiple of 4 bytes up to 40, got ${tcpOptions.length}`,
    );
  }
  const payload = options.payload ?? new Uint8Array(0);
  const headerLength = TCP_HEADER_LENGTH + tcpOptions.length;
  const out = allocatePacket(family, IPPROTO_TCP, headerLength + payload.length, options);
  const tcp = ipHeaderLength(family);
  const view = new DataView(out.buffer);
  view.setUint16(tcp, checkRange("sourcePort", options.sourcePort, 0xffff));
  view.setUint16(tcp + 2, checkRange("destinationPort", options.destinationPort, 0xffff));
  view.setUint32(tcp + 4, checkRange("sequence", options.sequence, 0xffffffff));
  view.setUint32(tcp + 8, checkRange("acknowledgment", options.acknowledgment ?? 0, 0xffffffff));
  out[tcp + 12] = (headerLength / 4) << 4;
  out[tcp + 13] = checkRange("flags", options.flags, 0xff);
  view.setUint16(tcp + 14, checkRange("window", options.window ?? DEFAULT_TCP_WINDOW, 0xffff));
  out.set(tcpOptions, tcp + TCP_HEADER_LENGTH);
  out.set(payload, tcp + headerLength);
  view.setUint16(tcp + 16, transportChecksum(out, family, IPPROTO_TCP));
  return out;
}

/**
 * Encodes a UDP datagram inside an IPv4 or IPv6 packet, with IP (IPv4) and UDP checksums (a
 * computed checksum of 0 is sent as 0xffff, as RFC 768 and RFC 8200 require).
 *
 * @param options The header fields and payload.
 * @returns The whole IP packet.
 * @throws {TypeError} When the addresses are not both 4 or both 16 bytes long.
 * @throws {RangeError} When a field is out of range or the packet would exceed the IP length field.
 * @example
 * ```ts
 * import { encodeUdpPacket } from "./encode.ts";
 * import { parseAddress } from "./address.ts";
 * const datagram = encodeUdpPacket({
 *   source: parseAddress("fd77::2")!,
 *   destination: parseAddress("fd77::1")!,
 *   sourcePort: 40000,
 *   destinationPort: 62201,
 *   payload: new Uint8Array(37),
 * });
 * if (datagram.length !== 40 + 8 + 37 || datagram[6] !== 17) throw new Error("unexpected");
 * ```
 */
export function encodeUdpPacket(options: UdpPacketOptions): Uint8Array {
  const family = addressFamily(options.source, options.destination);
  const payload = options.payload ?? new Uint8Array(0);
  const datagramLength = UDP_HEADER_LENGTH + payload.length;
  const out = allocatePacket(family, IPPROTO_UDP, datagramLength, options);
  const udp = ipHeaderLength(family);
  const view = new DataView(out.buffer);
  view.setUint16(udp, checkRange("sourcePort", options.sourcePort, 0xffff));
  view.setUint16(udp + 2, checkRange("destinationPort", options.destinationPort, 0xffff));
  view.setUint16(udp + 4, datagramLength);
  out.set(payload, udp + UDP_HEADER_LENGTH);
  view.setUint16(udp + 6, transportChecksum(out, family, IPPROTO_UDP) || 0xffff);
  return out;
}

interface IpFields {
  source: Uint8Array;
  destination: Uint8Array;
  ttl?: number;
  identification?: number;
}

function addressFamily(source: Uint8Array, destination: Uint8Array): IpFamily {
  if (source.length === IPV4_ADDRESS_LENGTH && destination.length === IPV4_ADDRESS_LENGTH) return 4;
  if (source.length === IPV6_ADDRESS_LENGTH && destination.length === IPV6_ADDRESS_LENGTH) return 6;
  throw new TypeError(
    `Cannot encode packet: source and destination must both be 4 or both be 16 bytes, got ${source.length} and ${destination.length}`,
  );
}

function ipHeaderLength(family: IpFamily): number {
  return family === 4 ? IPV4_HEADER_LENGTH : IPV6_HEADER_LENGTH;
}

function checkRange(name: string, value: number, max: number, min = 0): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot encode packet: ${name} must be an integer from ${min} to ${max}, got ${value}`,
    );
  }
  return value;
}

/** Allocates the packet and writes its IP header; the transport part is left for the caller. */
function allocatePacket(
  family: IpFamily,
  protocol: number,
  transportLength: number,
  fields: IpFields,
): Uint8Array {
  const headerLength = ipHeaderLength(family);
  const ttl = checkRange("ttl", fields.ttl ?? DEFAULT_TTL, 0xff, 1);
  // IPv4's total length counts the header; IPv6's payload length does not.
  const lengthField = family === 4 ? headerLength + transportLength : transportLength;
  if (lengthField > IP_MAX_LENGTH) {
    throw new RangeError(
      `Cannot encode packet: ${transportLength} transport bytes do not fit an IPv${family} packet`,
    );
  }
  const out = new Uint8Array(headerLength + transportLength);
  const view = new DataView(out.buffer);
  if (family === 4) {
    out[0] = 0x45;
    view.setUint16(2, lengthField);
    view.setUint16(4, checkRange("identification", fields.identification ?? 0, 0xffff));
    view.setUint16(6, IPV4_FLAG_DONT_FRAGMENT);
    out[8] = ttl;
    out[9] = protocol;
    out.set(fields.source, 12);
    out.set(fields.destination, 16);
    view.setUint16(10, checksumFinish(checksumAdd(0, out, 0, IPV4_HEADER_LENGTH)));
  } else {
    out[0] = 0x60;
    view.setUint16(4, lengthField);
    out[6] = protocol;
    out[7] = ttl;
    out.set(fields.source, 8);
    out.set(fields.destination, 24);
  }
  return out;
}

/** The TCP or UDP checksum over the pseudo-header and the transport part of `packet`. */
function transportChecksum(packet: Uint8Array, family: IpFamily, protocol: number): number {
  const start = ipHeaderLength(family);
  const length = packet.length - start;
  // Pseudo-header: the addresses (contiguous in both headers), the protocol, the length.
  const addresses = family === 4 ? 12 : 8;
  let sum = checksumAdd(0, packet, addresses, family === 4 ? 8 : 32);
  sum = checksumAddWord(sum, protocol);
  sum = checksumAddWord(sum, length);
  return checksumFinish(checksumAdd(sum, packet, start, length));
}
