/**
 * Detects the moment a TCP port opens: a fresh non-blocking `connect` every interval, each pending
 * one watched with `ppoll`, without spawning anything. A SYN dropped by the firewall draws no
 * answer, so a connect started before the port opened never completes in time (its retransmission
 * is a second away); the first connect to complete is one started after the opening, at most one
 * interval and one round trip late.
 *
 * The bench runs it inside the client namespace, in the prober (`prober.ts`), with `--allow-all`.
 *
 * @module
 */

import { openConnectLibc } from "../../ffi/bench_libc.ts";
import { AF_INET, SOCK_CLOEXEC, socketAddress } from "../../ffi/libc.ts";
import { parseAddress } from "../../lib/packet/address.ts";

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const POLLOUT = 4;
const POLLFD_SIZE = 8; // struct pollfd: int fd, short events, short revents
/** Most connects in flight; older ones are abandoned first. */
const MAX_PENDING = 512;

/** Options of {@linkcode ConnectPoller}. */
export interface ConnectPollerOptions {
  /** Time between two connects, in milliseconds; default 0.5. */
  intervalMs?: number;
  /** A connect still pending after this long is abandoned; default 150 ms. */
  abandonMs?: number;
}

function ipv4SocketAddress(address: string, port: number): Uint8Array<ArrayBuffer> {
  const bytes = parseAddress(address);
  if (bytes?.length !== 4) throw new TypeError(`Cannot poll: "${address}" is not IPv4`);
  return socketAddress(bytes, port);
}

interface Pending {
  fd: number;
  startedAt: number;
}

/**
 * Polls one IPv4 TCP address and port with fresh connects.
 *
 * @example
 * ```ts ignore
 * using poller = new ConnectPoller("10.77.0.1", 22);
 * const openedAt = await poller.until(performance.now() + 3000);
 * ```
 */
export class ConnectPoller implements Disposable {
  readonly #lib = openConnectLibc();
  readonly #address: Uint8Array<ArrayBuffer>;
  #source: Uint8Array<ArrayBuffer> | undefined;
  readonly #intervalNs: bigint;
  readonly #abandonMs: number;
  readonly #pending: Pending[] = [];
  readonly #fds = new Uint8Array(MAX_PENDING * POLLFD_SIZE);
  readonly #fdView = new DataView(this.#fds.buffer);
  readonly #timeout = new BigInt64Array(2);
  readonly #error = new Int32Array(1);
  readonly #errorLength = new Uint32Array([4]);
  /** Gaps between consecutive connects, in milliseconds, since the last {@linkcode reset}. */
  readonly gaps: number[] = [];
  #lastConnect: number | undefined;

  /**
   * @throws {TypeError} When `address` is not dotted IPv4.
   */
  constructor(address: string, port: number, options: ConnectPollerOptions = {}) {
    this.#address = ipv4SocketAddress(address, port);
    this.#intervalNs = BigInt(Math.round((options.intervalMs ?? 0.5) * 1e6));
    this.#abandonMs = options.abandonMs ?? 150;
  }

  /**
   * Connects every interval until one connect completes (resolving with the `performance.now()`
   * at which it was seen) or `deadline` (a `performance.now()` value) passes (resolving
   * `undefined`). `onTick` runs once per interval (the prober reads its capture there).
   */
  async until(deadline: number, onTick?: () => void): Promise<number | undefined> {
    try {
      while (performance.now() < deadline) {
        const opened = this.#start() ?? await this.#wait();
        onTick?.();
        if (opened !== undefined) return opened;
      }
      return undefined;
    } finally {
      this.#abandonAll();
    }
  }

  /**
   * Forgets the recorded gaps; connects from now on leave from `source` (an address of this host),
   * or from the address the kernel picks when `undefined`.
   *
   * @throws {TypeError} When `source` is not dotted IPv4.
   */
  reset(source?: string): void {
    this.gaps.length = 0;
    this.#lastConnect = undefined;
    this.#source = source === undefined ? undefined : ipv4SocketAddress(source, 0);
  }

  /** Starts one connect; returns the time if it completed at once. */
  #start(): number | undefined {
    const now = performance.now();
    if (this.#lastConnect !== undefined) this.gaps.push(now - this.#lastConnect);
    this.#lastConnect = now;
    if (this.#pending.length >= MAX_PENDING) this.#abandon(0);
    const c = this.#lib.symbols;
    const fd = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error("Cannot poll: socket() failed");
    if (this.#source !== undefined && c.bind(fd, this.#source, this.#source.length) !== 0) {
      c.close(fd);
      throw new Error("Cannot poll: bind() to the source address failed");
    }
    if (c.connect(fd, this.#address, this.#address.length) === 0) {
      c.close(fd);
      return performance.now();
    }
    this.#pending.push({ fd, startedAt: now });
    return undefined;
  }

  /** Waits one interval for any pending connect; returns the time one completed. */
  async #wait(): Promise<number | undefined> {
    const c = this.#lib.symbols;
    const n = this.#pending.length;
    for (let i = 0; i < n; i++) {
      this.#fdView.setInt32(i * POLLFD_SIZE, this.#pending[i]!.fd, true);
      this.#fdView.setInt16(i * POLLFD_SIZE + 4, POLLOUT, true);
      this.#fdView.setInt16(i * POLLFD_SIZE + 6, 0, true);
    }
    this.#timeout[0] = 0n;
    this.#timeout[1] = this.#intervalNs;
    const ready = await c.ppoll(this.#fds, BigInt(n), new Uint8Array(this.#timeout.buffer), 0n);
    const seenAt = performance.now();
    let opened: number | undefined;
    if (ready > 0) {
      for (let i = n - 1; i >= 0; i--) {
        if (this.#fdView.getInt16(i * POLLFD_SIZE + 6, true) === 0) continue;
        const fd = this.#pending[i]!.fd;
        this.#errorLength[0] = 4;
        c.getsockopt(
          fd,
          SOL_SOCKET,
          SO_ERROR,
          new Uint8Array(this.#error.buffer),
          new Uint8Array(this.#errorLength.buffer),
        );
        if (this.#error[0] === 0) opened = seenAt;
        c.close(fd);
        this.#pending.splice(i, 1);
      }
    }
    this.#abandon(seenAt - this.#abandonMs);
    return opened;
  }

  /** Closes pending connects started before `before`. */
  #abandon(before: number): void {
    while (this.#pending.length > 0 && this.#pending[0]!.startedAt <= before) {
      this.#lib.symbols.close(this.#pending.shift()!.fd);
    }
    if (this.#pending.length >= MAX_PENDING) this.#lib.symbols.close(this.#pending.shift()!.fd);
  }

  #abandonAll(): void {
    for (const p of this.#pending) this.#lib.symbols.close(p.fd);
    this.#pending.length = 0;
  }

  /** Closes every socket and the library. */
  [Symbol.dispose](): void {
    this.#abandonAll();
    this.#lib.close();
  }
}
