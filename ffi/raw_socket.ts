/**
 * `RawSocket`: sends complete, hand-built IPv4 or IPv6 packets (the caller writes the IP header).
 *
 * @module
 */

import type { IpFamily } from "../lib/packet/address.ts";
import {
  AF_INET,
  AF_INET6,
  EPERM,
  type Libc,
  loadLibc,
  readErrno,
  SOCK_CLOEXEC,
  SOCK_RAW,
  socketAddress,
  SystemError,
  systemError,
} from "./libc.ts";

const IPPROTO_IP = 0;
const IPPROTO_RAW = 255;
const IP_HDRINCL = 3;

/**
 * A raw IP socket for sending. IPv4: `SOCK_RAW`/`IPPROTO_RAW` with `IP_HDRINCL`. IPv6:
 * `IPPROTO_RAW`, which on Linux also takes the packet with its IPv6 header. The kernel routes each
 * packet by `destination` and fills in the IPv4 header checksum and total length.
 *
 * @example Send a packet built by `lib/packet` (needs root or CAP_NET_RAW)
 * ```ts
 * import { RawSocket } from "./raw_socket.ts";
 * // A raw socket needs root or CAP_NET_RAW: type-checked by `deno test --doc`, not run.
 * function sendOnce(packet: Uint8Array): void {
 *   using socket = RawSocket.open(4);
 *   socket.send(packet, new Uint8Array([10, 77, 0, 1]));
 * }
 * ```
 */
export class RawSocket implements Disposable {
  /** The IP version this socket sends. */
  readonly family: IpFamily;
  readonly #libc: Libc;
  #fd: number;

  private constructor(family: IpFamily, libc: Libc, fd: number) {
    this.family = family;
    this.#libc = libc;
    this.#fd = fd;
  }

  /**
   * Opens a raw socket for IPv4 (`4`) or IPv6 (`6`) packets.
   *
   * @throws {SystemError} `EPERM`: "needs root or CAP_NET_RAW".
   * @throws {TypeError} When `family` is neither 4 nor 6.
   * @example
   * ```ts
   * import { RawSocket } from "./raw_socket.ts";
   * // A raw socket needs root or CAP_NET_RAW: type-checked by `deno test --doc`, not run.
   * function openV6(): RawSocket {
   *   return RawSocket.open(6);
   * }
   * ```
   */
  static open(family: IpFamily): RawSocket {
    if (family !== 4 && family !== 6) {
      throw new TypeError(`Cannot open raw socket: family must be 4 or 6, got ${family}`);
    }
    const libc = loadLibc();
    const fd = libc.socket(family === 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) throw systemError(`open a raw IPv${family} socket`);
    if (family === 4) {
      const on = new Int32Array([1]);
      if (libc.setsockopt(fd, IPPROTO_IP, IP_HDRINCL, new Uint8Array(on.buffer), 4) < 0) {
        const error = systemError("set IP_HDRINCL");
        libc.close(fd);
        throw error;
      }
    }
    return new RawSocket(family, libc, fd);
  }

  /**
   * Sends `packet` (a complete IP packet of this socket's family) towards `destination` (4 or 16
   * address bytes, normally the packet's own destination).
   *
   * @throws {TypeError} When the destination length does not match the family, or the packet is
   *   empty, or the socket is closed.
   * @throws {SystemError} When the kernel refuses the packet: `EPERM` here means a local firewall
   *   rule refused it; `EMSGSIZE` a packet larger than the MTU.
   * @example
   * ```ts
   * import { RawSocket } from "./raw_socket.ts";
   * // A raw socket needs root or CAP_NET_RAW: type-checked by `deno test --doc`, not run.
   * function sendTo(socket: RawSocket, packet: Uint8Array): void {
   *   socket.send(packet, new Uint8Array([10, 77, 0, 1]));
   * }
   * ```
   */
  send(packet: Uint8Array, destination: Uint8Array): void {
    if (this.#fd < 0) throw new TypeError("Cannot send packet: the raw socket is closed");
    const expected = this.family === 4 ? 4 : 16;
    if (destination.length !== expected) {
      throw new TypeError(
        `Cannot send packet: an IPv${this.family} destination has ${expected} bytes, got ${destination.length}`,
      );
    }
    if (packet.length === 0) throw new TypeError("Cannot send packet: it is empty");
    const address = socketAddress(destination);
    const sent = this.#libc.sendto(
      this.#fd,
      packet,
      BigInt(packet.length),
      0,
      address,
      address.length,
    );
    if (sent < 0n) {
      const errno = readErrno();
      // The socket exists, so EPERM is not a missing capability but a netfilter verdict.
      throw errno === EPERM
        ? new SystemError("send packet", errno, "a firewall rule refused it")
        : systemError("send packet", errno);
    }
  }

  /** Closes the socket; safe to call twice. */
  close(): void {
    if (this.#fd < 0) return;
    this.#libc.close(this.#fd);
    this.#fd = -1;
  }

  /** Same as {@linkcode RawSocket.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
