/**
 * The packet codec: pure functions over `Uint8Array`, no I/O. {@linkcode decodeFrame} turns a
 * captured frame into a reusable {@linkcode PacketView} without allocating;
 * {@linkcode encodeTcpPacket} and {@linkcode encodeUdpPacket} build whole IP packets for a raw
 * socket; {@linkcode parseAddress}/{@linkcode formatAddress} convert addresses; the checksum
 * functions compute the internet checksum piece by piece.
 *
 * @example
 * ```ts
 * import { decodeFrame, encodeUdpPacket, LINKTYPE_RAW, PacketView, parseAddress } from "./mod.ts";
 * const packet = encodeUdpPacket({
 *   source: parseAddress("10.77.0.2")!,
 *   destination: parseAddress("10.77.0.1")!,
 *   sourcePort: 40000,
 *   destinationPort: 62201,
 *   payload: new Uint8Array(40).fill(7),
 * });
 * const view = new PacketView();
 * if (decodeFrame(LINKTYPE_RAW, packet, packet.length, view) !== "ok") throw new Error("rejected");
 * const tail = view.tailOffset(37);
 * if (tail !== packet.length - 37) throw new Error("unexpected");
 * ```
 *
 * @module
 */

export * from "./address.ts";
export * from "./checksum.ts";
export * from "./constants.ts";
export * from "./decode.ts";
export * from "./encode.ts";
export * from "./view.ts";
