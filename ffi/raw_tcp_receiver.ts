/**
 * A raw `IPPROTO_TCP` socket that only receives: the kernel hands it a copy of every TCP segment
 * this host receives (of its network namespace), including an RST to a port no socket owns, which
 * the kernel's own TCP then drops. The `syn` transport reads the server's RST reply with it.
 *
 * It replaces a libpcap capture for that one reply: opening the capture (loading libpcap,
 * `pcap_activate` with its ring, compiling the filter) cost a knock 7-15 ms before its packet
 * left; this socket costs one `socket(2)` call on the libc already loaded. It is not filtered in
 * the kernel: every TCP segment of the host is copied to it while a knock waits (a second or two
 * at most), and the caller keeps only the server's reply.
 *
 * An IPv4 segment arrives with its IP header, an IPv6 one without (RFC 3542); the sender's address
 * comes from `recvfrom`, so {@linkcode RawTcpReceiver.receive} returns the TCP segment and the
 * source address alike for both. Needs root or CAP_NET_RAW.
 *
 * @module
 */

import { Readiness } from "./_readiness.ts";
import type { IpFamily } from "../lib/packet/address.ts";
import { IPPROTO_TCP } from "../lib/packet/constants.ts";
import {
  AF_INET,
  AF_INET6,
  EAGAIN,
  EINTR,
  type Libc,
  loadLibc,
  readErrno,
  SOCK_CLOEXEC,
  SOCK_RAW,
  systemError,
} from "./libc.ts";

const SOCK_NONBLOCK = 0o4000;
/** Bytes of the largest segment read: more than any RST reply (the rest is truncated). */
const BUFFER_BYTES = 4096;

/** One received TCP segment. */
export interface ReceivedSegment {
  /** The sender's address: 4 or 16 bytes. */
  source: Uint8Array;
  /** The TCP header and payload (a view valid until the next receive). */
  segment: Uint8Array;
}

/**
 * A receive-only raw TCP socket of one IP family.
 *
 * @example
 * ```ts
 * import { RawTcpReceiver, type ReceivedSegment } from "./raw_tcp_receiver.ts";
 * // A raw socket needs root or CAP_NET_RAW: type-checked by `deno test --doc`, not run.
 * async function firstSegment(): Promise<ReceivedSegment | undefined> {
 *   using receiver = RawTcpReceiver.open(4);
 *   return await receiver.receive(); // undefined once closed
 * }
 * ```
 */
export class RawTcpReceiver implements Disposable {
  /** The IP version received. */
  readonly family: IpFamily;
  readonly #libc: Libc;
  #readiness: Readiness | undefined;
  readonly #buffer = new Uint8Array(BUFFER_BYTES);
  readonly #address = new Uint8Array(28);
  readonly #addressLength = new Uint32Array(1);
  #fd: number;
  #waiting: Promise<void> | undefined;

  private constructor(family: IpFamily, libc: Libc, fd: number) {
    this.family = family;
    this.#libc = libc;
    this.#fd = fd;
  }

  /**
   * Opens the socket: from now on the kernel queues every TCP segment for this machine in it.
   * Reading it (the wait off the main thread, and the libc symbols that needs) is set up at the
   * first {@linkcode RawTcpReceiver.receive}, so a client can open the socket before its knock
   * leaves and pay for the rest after: nothing that arrives in between is lost.
   *
   * @throws {SystemError} `EPERM`: "needs root or CAP_NET_RAW"; `EMFILE` and the like.
   */
  static open(family: IpFamily): RawTcpReceiver {
    if (family !== 4 && family !== 6) {
      throw new TypeError(`Cannot open raw TCP socket: family must be 4 or 6, got ${family}`);
    }
    const libc = loadLibc();
    const fd = libc.socket(
      family === 4 ? AF_INET : AF_INET6,
      SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
      IPPROTO_TCP,
    );
    if (fd < 0) throw systemError(`open a raw IPv${family} TCP socket`);
    return new RawTcpReceiver(family, libc, fd);
  }

  /**
   * The next segment, waiting off the main thread for one; `undefined` once closed.
   *
   * @throws {SystemError} When the socket fails (not for `EAGAIN`/`EINTR`), or no eventfd can be
   * made for the wait (e.g. `EMFILE`).
   * @throws {TypeError} When another receive is pending.
   */
  async receive(): Promise<ReceivedSegment | undefined> {
    if (this.#fd >= 0) this.#readiness ??= new Readiness(this.#fd);
    while (this.#fd >= 0) {
      this.#addressLength[0] = this.#address.length;
      const n = Number(
        this.#libc.recvfrom(
          this.#fd,
          this.#buffer,
          BigInt(this.#buffer.length),
          0,
          this.#address,
          new Uint8Array(this.#addressLength.buffer),
        ),
      );
      if (n >= 0) return this.#segment(n);
      const errno = readErrno();
      if (errno !== EAGAIN && errno !== EINTR) throw systemError("receive a TCP segment", errno);
      if (this.#waiting !== undefined) throw new TypeError("Cannot receive: a receive is pending");
      this.#waiting = this.#readiness!.wait();
      try {
        await this.#waiting;
      } finally {
        this.#waiting = undefined;
      }
    }
    return undefined;
  }

  #segment(n: number): ReceivedSegment | undefined {
    const data = this.#buffer.subarray(0, n);
    let source: Uint8Array;
    let segment: Uint8Array;
    if (this.family === 4) {
      source = this.#address.slice(4, 8);
      const headerLength = ((data[0] ?? 0) & 0x0f) * 4;
      segment = data.subarray(Math.min(headerLength, n));
    } else {
      source = this.#address.slice(8, 24);
      segment = data;
    }
    return { source, segment };
  }

  /** Ends a pending receive (it returns `undefined`) and closes the socket; safe twice. */
  async close(): Promise<void> {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    this.#readiness?.wake();
    await this.#waiting?.catch(() => {});
    this.#readiness?.close();
    this.#libc.close(fd);
  }

  /** Same as {@linkcode RawTcpReceiver.close}, without waiting for a pending receive to end. */
  [Symbol.dispose](): void {
    void this.close();
  }
}
