/**
 * `Capture`: a libpcap capture (live or from a `.pcap` file) read in synchronous batches, with an
 * asynchronous wait for readability that costs no CPU while the link is idle.
 *
 * Why this design (measured here: Deno 2.9.6, libpcap 1.10.3, 2 cores, scoped `--allow-ffi`; a
 * frozen capture holding 1M 114-byte frames, then timed draining them; `bench/capture.ts`):
 * - Under scoped FFI, pointers are `usize` and packets are copied out with `memcpy`. Pointers
 *   passed back as the `bigint`s they arrive as take V8's fast call path (~12 ns per call);
 *   as `number`s, the slow one (~90 ns): 2.6 M packets/s for the whole loop.
 * - Synchronous calls in batches: `pcap_next_ex` + 2 `memcpy` drained 17–18 M/s; `pcap_next`
 *   (which writes the header into our buffer) + 1 `memcpy` is ~17% faster again, so the live
 *   loop uses it. `pcap_next_ex` declared `nonblocking` (a thread hop per packet): 0.07 M/s. A
 *   JS callback per packet (`pcap_dispatch` + `UnsafeCallback`) is refused under scoped FFI. A
 *   blocking handle never returns on an idle link and would freeze the event loop.
 * - Our header and frame buffers go to the per-packet calls as addresses (`addressOf`), not as
 *   `buffer` parameters: each `buffer` costs a call into Deno to find its memory (`perf`: Deno's
 *   own code 11% of a file-reading loop with buffers, 3% with addresses; a frozen live ring of
 *   300k packets read in 20.4 ms median instead of 26.3, 12 alternating rounds). Writing each
 *   packet into one batch buffer with `pcap_dispatch` + `pcap_dump` to an `open_memstream` (no
 *   FFI call per packet) was slower: 6.9 against 10.3 M packets/s from a file. Caching the
 *   `bigint` lengths changed nothing measurable.
 * - So only the wait is asynchronous: `poll` (declared `nonblocking`) on the selectable fd plus
 *   an eventfd that `close()` signals; a thread hop per batch, none and no CPU while idle. With
 *   trailer inspection the loop alone reads 11.5–15.6 M packets/s, 0.85–0.98× tcpdump's loop;
 *   resumed to exited, a frozen capture drains at 0.95× tcpdump's rate on a quiet machine
 *   (median of 3 rounds; 0.84–0.85× in 4 runs at load average 2–7), of which ~30 ms is releasing the 1 GiB ring (tcpdump: the
 *   same) and 5–8 ms Deno's exit; it kept up with 250–330k packets/s floods at 5–10% of a core,
 *   without drops.
 * - Ring: immediate mode makes libpcap use TPACKET_V2, whose slots are sized for the largest
 *   packet (64 KiB on a veth with offloads): a 32 MiB ring held 512 packets, 1 ms of a 500k
 *   packets/s flood. Without it, libpcap uses TPACKET_V3, which packs packets into 256 KiB blocks
 *   handed over when full or after a timeout; with a 1 ms timeout a lone packet was readable
 *   after 0.6 ms median, 1.1 ms max (0.2 ms in immediate mode), and a ring holds at least 4 ms of
 *   traffic per MiB (the default 6 MiB: 24 blocks, at least 24 ms).
 *
 * @module
 */

import {
  lastError,
  openLive,
  openOffline,
  PCAP_ERROR,
  PCAP_ERROR_BREAK,
  PcapError,
  setFilter,
} from "./_pcap_handle.ts";
import { DEFAULT_BUFFER_SIZE, DEFAULT_SNAPLEN } from "./capture_defaults.ts";
import { addressOf, type Libc, loadLibc } from "./libc.ts";
import { Readiness } from "./_readiness.ts";
import { type Libpcap, loadLibpcap } from "./libpcap.ts";

export {
  PCAP_ERROR_IFACE_NOT_UP,
  PCAP_ERROR_NO_SUCH_DEVICE,
  PCAP_ERROR_PERM_DENIED,
  PCAP_ERROR_PROMISC_PERM_DENIED,
  PcapError,
} from "./_pcap_handle.ts";

/**
 * Called once per packet. `frame` is a buffer reused for every packet: only its first `length`
 * bytes are this packet, and only during the call (copy what you keep).
 */
export type PacketCallback = (
  frame: Uint8Array,
  length: number,
  wireLength: number,
  timestampMicros: number,
) => void;

/** Options of {@linkcode Capture.open}. */
export interface CaptureOptions {
  /** Bytes kept of each packet; default 262144, which keeps any packet whole. */
  snaplen?: number;
  /** Put the interface in promiscuous mode; default false. */
  promiscuous?: boolean;
  /**
   * Kernel ring size in bytes; default 6 MiB: 24 blocks of 256 KiB, each handed over when full or
   * after 1 ms, so a reader may stall at least 24 ms at any packet rate (more at high rates, when
   * blocks fill with ~1,700 packets each) before anything is dropped. Every MiB of ring is resident
   * memory, but shared with the kernel, not private dirty. Sized by measurement
   * (`deno task bench:ring`, the flooder's maximum, 144-178k packets/s, a quiet 2-core machine,
   * the daemon's flags, a random and a forged flood per size and round): 2 MiB dropped packets in
   * 10 of 12 floods, 4 MiB in 5 of 12 (forged trailers with a user's UID, each verified), 6 MiB in
   * none of 20 and 8 MiB in none of 12. Before the verifier stopped allocating per forged packet
   * (`lib/server/probe_budget.ts`), 8 MiB was needed and still dropped in 1 flood of 12.
   */
  bufferSize?: number;
  /** A BPF filter expression (tcpdump syntax); default none: every packet. */
  filter?: string;
  /** A libpcap path instead of the standard ones. */
  libraryPath?: string;
  /** `in` captures only what the host receives, not what it sends; default `inout`. */
  direction?: "in" | "inout";
}

/** Counters of a live capture, since it was opened (32-bit, they wrap). */
export interface CaptureStats {
  /** Packets the kernel handed to the capture. */
  received: number;
  /** Packets dropped because the ring was full (the reader fell behind). */
  dropped: number;
  /** Packets dropped by the interface or its driver. */
  ifDropped: number;
}

export { DEFAULT_BUFFER_SIZE, DEFAULT_SNAPLEN } from "./capture_defaults.ts";
/** Packets read per {@linkcode Capture.read} call by {@linkcode Capture.run}. */
const BATCH = 4096;

const PKTHDR_SIZE = 24n; // struct pcap_pkthdr on LP64: struct timeval (16), caplen (4), len (4)
const PCAP_STAT_SIZE = 12; // struct pcap_stat on Linux: ps_recv, ps_drop, ps_ifdrop
type State = "open" | "closing" | "closed";

/**
 * A libpcap capture. Open with {@linkcode Capture.open} (an interface, or `any`) or
 * {@linkcode Capture.openOffline} (a `.pcap` file); read with {@linkcode Capture.run}, or with
 * {@linkcode Capture.read} and {@linkcode Capture.wait}; `close()` (or `using`) releases it.
 *
 * @example Count packets on eth0 for a second (needs root)
 * ```ts
 * import { Capture } from "./pcap.ts";
 * // Needs root and a live interface: type-checked by `deno test --doc`, not run.
 * async function countForASecond(device: string): Promise<number> {
 *   using capture = Capture.open(device);
 *   let count = 0;
 *   await capture.run(() => count++, AbortSignal.timeout(1000));
 *   return count;
 * }
 * ```
 */
export class Capture implements Disposable {
  /** The interface name, or the file path of an offline capture. */
  readonly source: string;
  /** The link-layer header type (`DLT_*`), e.g. 1 Ethernet, 113/276 Linux cooked v1/v2. */
  readonly linkType: number;
  /** libpcap's activation warning (the capture works, with a caveat), if any. */
  readonly warning: string | undefined;

  readonly #pcap: Libpcap;
  readonly #libc: Libc;
  readonly #handle: bigint;
  #state: State = "open";
  #ended = false;
  /** Waits for the capture's fd to become readable (live captures only). */
  readonly #readiness: Readiness | undefined;
  // The packet header (struct pcap_pkthdr), and pcap_next_ex's out-parameters; allocated once.
  readonly #header = new Uint32Array(6);
  readonly #pointers = new BigUint64Array(2);
  readonly #headerOut = new Uint8Array(this.#pointers.buffer, 0, 8);
  readonly #dataOut = new Uint8Array(this.#pointers.buffer, 8, 8);
  readonly #headerBytes = new Uint8Array(this.#header.buffer);
  readonly #frame: Uint8Array;
  // Where #headerBytes and #frame are: the per-packet calls take addresses, not buffers (each
  // `buffer` parameter costs a call into Deno to find its memory). Both arrays live as long as the
  // capture and their memory never moves.
  readonly #headerAddress: bigint;
  readonly #frameAddress: bigint;

  private constructor(
    source: string,
    pcap: Libpcap,
    handle: bigint,
    live: boolean,
    snaplen: number,
    warning: string | undefined,
  ) {
    this.source = source;
    this.#pcap = pcap;
    this.#libc = loadLibc();
    this.#handle = handle;
    this.#frame = new Uint8Array(snaplen);
    this.#headerAddress = addressOf(this.#headerBytes);
    this.#frameAddress = addressOf(this.#frame);
    this.warning = warning;
    this.linkType = pcap.pcap_datalink(handle);
    if (live) {
      const fd = pcap.pcap_get_selectable_fd(handle);
      try {
        if (fd < 0) {
          throw new PcapError(`Cannot open capture on ${source}: no pollable fd`, PCAP_ERROR);
        }
        this.#readiness = new Readiness(fd);
      } catch (error) {
        this.#release();
        throw error;
      }
    }
  }

  /**
   * Opens a live capture on `device` (an interface name, or `any` for all of them), non-blocking,
   * each packet readable within about 1 ms of its arrival.
   *
   * @throws {PcapError} When libpcap cannot activate the capture (no such device, no permission:
   *   "needs root or CAP_NET_RAW").
   * @throws {SyntaxError} When `options.filter` does not compile.
   * @throws {RangeError} When `snaplen` or `bufferSize` is out of range.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * // Needs root and a live interface: type-checked by `deno test --doc`, not run.
   * function openWithLargeRing(device: string): Capture {
   *   return Capture.open(device, { bufferSize: 64 * 1024 * 1024 });
   * }
   * ```
   */
  static open(device: string, options: CaptureOptions = {}): Capture {
    const snaplen = options.snaplen ?? DEFAULT_SNAPLEN;
    const bufferSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE;
    if (!Number.isInteger(snaplen) || snaplen < 64 || snaplen > DEFAULT_SNAPLEN) {
      throw new RangeError(`Cannot open capture: snaplen must be in 64..262144, got ${snaplen}`);
    }
    if (!Number.isInteger(bufferSize) || bufferSize < 65536 || bufferSize > 2 ** 31 - 1) {
      throw new RangeError(
        `Cannot open capture: bufferSize must be in 64 KiB..2 GiB, got ${bufferSize}`,
      );
    }
    const pcap = loadLibpcap(options.libraryPath);
    const promiscuous = options.promiscuous ?? false;
    const { handle, warning } = openLive(pcap, device, {
      snaplen,
      promiscuous,
      bufferSize,
      direction: options.direction ?? "inout",
    });
    const capture = new Capture(device, pcap, handle, true, snaplen, warning);
    if (options.filter !== undefined) {
      try {
        capture.setFilter(options.filter);
      } catch (error) {
        capture.close();
        throw error;
      }
    }
    return capture;
  }

  /**
   * Opens a `.pcap` file; {@linkcode Capture.read} then returns its packets in order, and
   * {@linkcode Capture.ended} turns true after the last.
   *
   * @throws {PcapError} When the file cannot be read as a capture.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * using capture = Capture.openOffline(file);
   * let bytes = 0;
   * capture.read((_frame, length) => (bytes += length));
   * if (bytes === 0) throw new Error("empty capture");
   * ```
   */
  static openOffline(path: string, options: { libraryPath?: string } = {}): Capture {
    const pcap = loadLibpcap(options.libraryPath);
    return new Capture(path, pcap, openOffline(pcap, path), false, DEFAULT_SNAPLEN, undefined);
  }

  /** Whether an offline capture has returned its last packet (always false when live). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#state !== "open";
  }

  /**
   * Compiles `expression` (tcpdump syntax) and makes it the capture's kernel filter.
   *
   * @throws {SyntaxError} When the expression does not compile.
   * @throws {PcapError} When the capture is closed, or libpcap cannot set the filter.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * using capture = Capture.openOffline(file);
   * capture.setFilter("udp or tcp[tcpflags] & tcp-syn != 0");
   * ```
   */
  setFilter(expression: string): void {
    setFilter(this.#pcap, this.#usable("set a filter"), this.source, expression);
  }

  /**
   * Reads the packets available now, up to `max`, handing each to `onPacket`; returns how many.
   * Synchronous; creates no objects per packet beyond the `bigint` arguments of its FFI calls
   * (two per packet live). Returns 0 when none is waiting (live) or at the end of a file. Stops
   * early when `onPacket` closes the capture.
   *
   * @throws {PcapError} When libpcap reports a read error (e.g. the interface went away).
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * using capture = Capture.openOffline(file);
   * const lengths: number[] = [];
   * const n = capture.read((_frame, length) => lengths.push(length));
   * if (n === 0 || n !== lengths.length) throw new Error("read nothing");
   * ```
   */
  read(onPacket: PacketCallback, max: number = BATCH): number {
    const handle = this.#usable("read packets");
    const pcap = this.#pcap;
    const libc = this.#libc;
    const header = this.#header;
    const headerAddress = this.#headerAddress;
    const frame = this.#frame;
    const frameAddress = this.#frameAddress;
    // Live, pcap_next writes the header into our buffer: one FFI call fewer than pcap_next_ex.
    // Its NULL means no packet now or an error: pcap_next_ex then tells which (or returns a
    // packet that arrived in between). Files use pcap_next_ex only, which reports a truncated
    // file where pcap_next would just stop.
    const live = this.#readiness !== undefined;
    let count = 0;
    while (count < max && this.#state === "open") {
      let data = live ? pcap.pcap_next(handle, headerAddress) : 0n;
      if (data === 0n) {
        const status = pcap.pcap_next_ex(handle, this.#headerOut, this.#dataOut);
        if (status === 0) break;
        if (status === PCAP_ERROR_BREAK) {
          this.#ended = true;
          break;
        }
        if (status !== 1) throw this.#error("read packets", status);
        libc.memcpyTo(headerAddress, this.#pointers[0]!, PKTHDR_SIZE);
        data = this.#pointers[1]!;
      }
      // caplen ≤ snaplen live; a file could claim more than our buffer, so never copy beyond it.
      const length = Math.min(header[4]!, frame.length);
      libc.memcpyTo(frameAddress, data, BigInt(length));
      count++;
      onPacket(frame, length, header[5]!, (header[0]! + header[1]! * 2 ** 32) * 1e6 + header[2]!);
    }
    return count;
  }

  /**
   * Resolves `true` once packets may be read (or the wait was cut short, see
   * {@linkcode Capture.run}), `false` once the capture is closed or an offline capture has ended.
   * Waits in `poll` on a worker thread: no CPU is used while idle, the event loop stays free, and
   * `close()` wakes it at once.
   *
   * @throws {TypeError} When another wait is pending.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * using capture = Capture.openOffline(file);
   * let count = 0;
   * while (await capture.wait()) if (capture.read(() => count++) === 0) break;
   * if (count === 0) throw new Error("no packet");
   * ```
   */
  async wait(): Promise<boolean> {
    if (this.#state !== "open") return false;
    if (this.#readiness === undefined) return !this.#ended;
    // Readiness, a signal or an error condition all lead to a read, which reports errors.
    await this.#readiness.wait();
    const state = this.#state as State; // close() may have run meanwhile
    if (state === "closing") this.#release();
    return state === "open";
  }

  /**
   * Reads packets until `signal` aborts, the capture is closed, or a file ends. Aborting ends the
   * loop but leaves the capture open (read `stats()`, then `close()`); when closed, resolves after
   * the capture's resources are released.
   *
   * @throws {PcapError} When libpcap reports a read error.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * using capture = Capture.openOffline(file);
   * const stop = new AbortController();
   * let count = 0;
   * const done = capture.run(() => {
   *   if (++count === 1) stop.abort(); // ends the loop; the capture stays open
   * }, stop.signal);
   * await done;
   * if (count === 0) throw new Error("no packet");
   * ```
   */
  async run(onPacket: PacketCallback, signal?: AbortSignal): Promise<void> {
    const onAbort = () => this.#readiness?.wake();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      while (this.#state === "open" && !signal?.aborted) {
        // A full batch means more may be waiting: read again before sleeping in poll.
        if (this.read(onPacket) === BATCH) continue;
        if (signal?.aborted || !await this.wait()) break;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * The capture's counters (live captures only).
   *
   * @throws {PcapError} On an offline capture, or when libpcap cannot read them.
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * // A live capture needs root: `deno test --doc` type-checks this function but does not call it.
   * function dropsAfterASecond(capture: Capture): number {
   *   const { dropped, ifDropped } = capture.stats();
   *   return dropped + ifDropped;
   * }
   * ```
   */
  stats(): CaptureStats {
    const handle = this.#usable("read statistics");
    const stat = new Uint32Array(PCAP_STAT_SIZE / 4);
    const status = this.#pcap.pcap_stats(handle, new Uint8Array(stat.buffer));
    if (status < 0) throw this.#error("read statistics", status);
    return { received: stat[0]!, dropped: stat[1]!, ifDropped: stat[2]! };
  }

  /**
   * Closes the capture; safe to call twice. A pending {@linkcode Capture.wait} is woken and the
   * handle released as soon as it returns (it must not be freed under a running `poll`).
   *
   * @example
   * ```ts
   * import { Capture } from "./pcap.ts";
   * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
   * const capture = Capture.openOffline(file);
   * capture.close();
   * capture.close(); // no-op
   * ```
   */
  close(): void {
    switch (this.#state) {
      case "closing":
      case "closed":
        return;
      case "open":
        if (this.#readiness?.pending) {
          // Never free the handle under a running poll: release when it returns.
          this.#state = "closing";
          this.#readiness.wake();
        } else {
          this.#release();
        }
        return;
      default: {
        const unreachable: never = this.#state;
        throw new TypeError(`Cannot close capture: unknown state ${unreachable}`);
      }
    }
  }

  /** Same as {@linkcode Capture.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  #release(): void {
    this.#state = "closed";
    this.#pcap.pcap_close(this.#handle);
    this.#readiness?.close();
  }

  #usable(operation: string): bigint {
    if (this.#state !== "open") {
      throw new PcapError(
        `Cannot ${operation}: the capture on ${this.source} is closed`,
        PCAP_ERROR,
      );
    }
    return this.#handle;
  }

  #error(operation: string, status: number): PcapError {
    const detail = lastError(this.#pcap, this.#handle);
    return new PcapError(`Cannot ${operation} on ${this.source}: ${detail}`, status);
  }
}
