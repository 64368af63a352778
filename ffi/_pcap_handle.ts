/**
 * Opening libpcap handles and reading libpcap's error texts. Private to `ffi/`.
 *
 * @module
 */

import { cString, readCString } from "./libc.ts";
import type { Libpcap } from "./libpcap.ts";

/** A libpcap failure; `status` is the libpcap status code (e.g. -5 no such device). */
export class PcapError extends Error {
  /** The libpcap status code (`PCAP_ERROR_*`), negative. */
  readonly status: number;

  /**
   * @example
   * ```ts
   * import { PcapError } from "./_pcap_handle.ts";
   * if (new PcapError("Cannot open capture: x", -5).status !== -5) throw new Error("unexpected");
   * ```
   */
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }

  override get name(): string {
    return "PcapError";
  }
}

/** `PCAP_ERROR`: a generic failure. */
export const PCAP_ERROR = -1;
/** `PCAP_ERROR_BREAK`: the end of a capture file. */
export const PCAP_ERROR_BREAK = -2;
/** `PCAP_ERROR_NO_SUCH_DEVICE`: the interface does not exist. */
export const PCAP_ERROR_NO_SUCH_DEVICE = -5;
/** `PCAP_ERROR_PERM_DENIED`: no permission to capture (needs root or CAP_NET_RAW). */
export const PCAP_ERROR_PERM_DENIED = -8;
/** `PCAP_ERROR_IFACE_NOT_UP`: the interface is not up. */
export const PCAP_ERROR_IFACE_NOT_UP = -9;
/** `PCAP_ERROR_PROMISC_PERM_DENIED`: no permission to capture in promiscuous mode. */
export const PCAP_ERROR_PROMISC_PERM_DENIED = -11;
const PCAP_ERRBUF_SIZE = 256;
const PCAP_NETMASK_UNKNOWN = 0xffffffff;
const BPF_PROGRAM_SIZE = 16; // struct bpf_program: u_int length, padding, struct bpf_insn *
/** The kernel hands over a partly filled ring block after this long: the added latency bound. */
const BLOCK_TIMEOUT_MS = 1;

/** Settings of a live handle. */
export interface LiveSettings {
  snaplen: number;
  promiscuous: boolean;
  bufferSize: number;
  /** `in`: only packets the host receives (not the ones it sends); default both. */
  direction?: "in" | "inout";
}

const PCAP_D_INOUT = 0;
const PCAP_D_IN = 1;

/**
 * Creates, configures and activates a non-blocking live handle. libpcap's warnings (the capture
 * works, with a caveat) are returned; its errors are thrown.
 *
 * @throws {PcapError} When the handle cannot be created or activated.
 * @example
 * ```ts
 * import { openLive } from "./_pcap_handle.ts";
 * import { loadLibpcap } from "./libpcap.ts";
 * // Needs root and a live interface: type-checked by `deno test --doc`, not run.
 * function open(device: string): bigint {
 *   const settings = { snaplen: 262144, promiscuous: false, bufferSize: 1 << 25 };
 *   const { handle, warning } = openLive(loadLibpcap(), device, settings);
 *   if (warning !== undefined) console.warn(warning);
 *   return handle;
 * }
 * ```
 */
export function openLive(
  pcap: Libpcap,
  device: string,
  settings: LiveSettings,
): { handle: bigint; warning: string | undefined } {
  const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
  const handle = pcap.pcap_create(cString(device), errbuf);
  if (handle === 0n) {
    throw new PcapError(`Cannot open capture on ${device}: ${errbufText(errbuf)}`, PCAP_ERROR);
  }
  pcap.pcap_set_snaplen(handle, settings.snaplen);
  pcap.pcap_set_promisc(handle, settings.promiscuous ? 1 : 0);
  // Not immediate mode, but a 1 ms block timeout: see "Why this design" in pcap.ts.
  pcap.pcap_set_immediate_mode(handle, 0);
  pcap.pcap_set_timeout(handle, BLOCK_TIMEOUT_MS);
  pcap.pcap_set_buffer_size(handle, settings.bufferSize);
  const status = pcap.pcap_activate(handle);
  let warning: string | undefined;
  if (status < 0) {
    const message = activationError(pcap, handle, status);
    pcap.pcap_close(handle);
    throw new PcapError(`Cannot open capture on ${device}: ${message}`, status);
  } else if (status > 0) {
    warning = `${statusText(pcap, status)}: ${lastError(pcap, handle)}`;
  }
  const direction = settings.direction === "in" ? PCAP_D_IN : PCAP_D_INOUT;
  if (pcap.pcap_setdirection(handle, direction) < 0) {
    const message = lastError(pcap, handle);
    pcap.pcap_close(handle);
    throw new PcapError(
      `Cannot open capture on ${device}: cannot set the direction: ${message}`,
      PCAP_ERROR,
    );
  }
  if (pcap.pcap_setnonblock(handle, 1, errbuf) < 0) {
    pcap.pcap_close(handle);
    throw new PcapError(`Cannot open capture on ${device}: ${errbufText(errbuf)}`, PCAP_ERROR);
  }
  return { handle, warning };
}

/**
 * Opens a capture file.
 *
 * @throws {PcapError} When the file cannot be read as a capture.
 * @example
 * ```ts
 * import { openOffline } from "./_pcap_handle.ts";
 * import { loadLibpcap } from "./libpcap.ts";
 * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
 * const pcap = loadLibpcap();
 * pcap.pcap_close(openOffline(pcap, file));
 * ```
 */
export function openOffline(pcap: Libpcap, path: string): bigint {
  const errbuf = new Uint8Array(PCAP_ERRBUF_SIZE);
  const handle = pcap.pcap_open_offline(cString(path), errbuf);
  if (handle === 0n) {
    // libpcap's message starts with the path already.
    const reason = errbufText(errbuf).replace(`${path}: `, "");
    throw new PcapError(`Cannot open capture file ${path}: ${reason}`, PCAP_ERROR);
  }
  return handle;
}

/**
 * Compiles `expression` (tcpdump syntax) and sets it as the filter of `handle`.
 *
 * @throws {SyntaxError} When the expression does not compile.
 * @throws {PcapError} When libpcap cannot set the compiled filter.
 * @example
 * ```ts
 * import { openOffline, setFilter } from "./_pcap_handle.ts";
 * import { loadLibpcap } from "./libpcap.ts";
 * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
 * const pcap = loadLibpcap();
 * const handle = openOffline(pcap, file);
 * setFilter(pcap, handle, file, "udp");
 * pcap.pcap_close(handle);
 * ```
 */
export function setFilter(pcap: Libpcap, handle: bigint, source: string, expression: string): void {
  const program = new Uint8Array(BPF_PROGRAM_SIZE);
  if (pcap.pcap_compile(handle, program, cString(expression), 1, PCAP_NETMASK_UNKNOWN) < 0) {
    throw new SyntaxError(`Cannot compile filter "${expression}": ${lastError(pcap, handle)}`);
  }
  const status = pcap.pcap_setfilter(handle, program);
  pcap.pcap_freecode(program);
  if (status < 0) {
    throw new PcapError(`Cannot set a filter on ${source}: ${lastError(pcap, handle)}`, status);
  }
}

/**
 * libpcap's text for the last error on `handle` (`pcap_geterr`).
 *
 * @example
 * ```ts
 * import { lastError, openOffline, setFilter } from "./_pcap_handle.ts";
 * import { loadLibpcap } from "./libpcap.ts";
 * const file = new URL("../tests/testdata/captures/ethernet.pcap", import.meta.url).pathname;
 * const pcap = loadLibpcap();
 * const handle = openOffline(pcap, file);
 * try {
 *   setFilter(pcap, handle, file, "not a filter (");
 * } catch {
 *   if (lastError(pcap, handle) === "") throw new Error("libpcap said nothing");
 * }
 * pcap.pcap_close(handle);
 * ```
 */
export function lastError(pcap: Libpcap, handle: bigint): string {
  return readCString(pcap.pcap_geterr(handle), PCAP_ERRBUF_SIZE + 1);
}

function activationError(pcap: Libpcap, handle: bigint, status: number): string {
  const text = statusText(pcap, status);
  const detail = lastError(pcap, handle);
  if (status === PCAP_ERROR_PERM_DENIED || status === PCAP_ERROR_PROMISC_PERM_DENIED) {
    return `needs root or CAP_NET_RAW (${detail || text})`;
  }
  return detail === "" || detail.toLowerCase() === text ? text : `${text}: ${detail}`;
}

function statusText(pcap: Libpcap, status: number): string {
  return readCString(pcap.pcap_statustostr(status), 257).toLowerCase();
}

function errbufText(errbuf: Uint8Array): string {
  const end = errbuf.indexOf(0);
  return new TextDecoder().decode(errbuf.subarray(0, end < 0 ? errbuf.length : end));
}
