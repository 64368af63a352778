/**
 * Reading a bare TCP segment (header and payload, no IP header), as a raw `IPPROTO_TCP` socket
 * hands an IPv6 one over (and an IPv4 one once its IP header is skipped). Pure; allocates only the
 * result.
 *
 * @module
 */

import { TCP_HEADER_LENGTH } from "./constants.ts";

/** The fields of a TCP segment the client's `syn` transport needs. */
export interface TcpSegment {
  sourcePort: number;
  destinationPort: number;
  /** The flag bits (byte 13): `TCP_SYN`, `TCP_RST`, ... */
  flags: number;
  /** The bytes after the header and its options (a view into the segment). */
  payload: Uint8Array;
}

/**
 * Reads `segment`; `undefined` when it is shorter than its header says.
 *
 * @example
 * ```ts
 * import { readTcpSegment } from "./tcp_segment.ts";
 * const segment = new Uint8Array(23);
 * segment.set([0, 22, 0x80, 0x00], 0); // ports 22 → 32768
 * segment[12] = 5 << 4; // 20-byte header
 * segment[13] = 0x04; // RST
 * segment.set([1, 2, 3], 20);
 * const read = readTcpSegment(segment);
 * if (read?.sourcePort !== 22 || read.destinationPort !== 32768 || read.payload.length !== 3) {
 *   throw new Error();
 * }
 * ```
 */
export function readTcpSegment(segment: Uint8Array): TcpSegment | undefined {
  if (segment.length < TCP_HEADER_LENGTH) return undefined;
  const headerLength = (segment[12]! >> 4) * 4;
  if (headerLength < TCP_HEADER_LENGTH || headerLength > segment.length) return undefined;
  return {
    sourcePort: (segment[0]! << 8) | segment[1]!,
    destinationPort: (segment[2]! << 8) | segment[3]!,
    flags: segment[13]!,
    payload: segment.subarray(headerLength),
  };
}
