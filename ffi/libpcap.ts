/**
 * The libpcap symbol table and its loader. C pointers are `usize` (see `libc.ts` for why).
 *
 * @module
 */

import { dlopenFirst } from "./dlopen.ts";
import { LIBPCAP_CANDIDATES, LIBPCAP_PACKAGE } from "./library_paths.ts";

/** The libpcap symbol table (libpcap 1.5 or newer). */
export const LIBPCAP_SYMBOLS = {
  // const char *pcap_lib_version(void)
  pcap_lib_version: { parameters: [], result: "usize" },
  // pcap_t *pcap_create(const char *device, char *errbuf)
  pcap_create: { parameters: ["buffer", "buffer"], result: "usize" },
  // pcap_t *pcap_open_offline(const char *path, char *errbuf)
  pcap_open_offline: { parameters: ["buffer", "buffer"], result: "usize" },
  // int pcap_set_snaplen(pcap_t *p, int snaplen)
  pcap_set_snaplen: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_set_promisc(pcap_t *p, int on)
  pcap_set_promisc: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_set_immediate_mode(pcap_t *p, int on)
  pcap_set_immediate_mode: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_set_buffer_size(pcap_t *p, int bytes)
  pcap_set_buffer_size: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_set_timeout(pcap_t *p, int milliseconds)
  pcap_set_timeout: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_activate(pcap_t *p)
  pcap_activate: { parameters: ["usize"], result: "i32" },
  // int pcap_setnonblock(pcap_t *p, int on, char *errbuf)
  pcap_setnonblock: { parameters: ["usize", "i32", "buffer"], result: "i32" },
  // int pcap_setdirection(pcap_t *p, pcap_direction_t d)   (PCAP_D_INOUT 0, PCAP_D_IN 1, PCAP_D_OUT 2)
  pcap_setdirection: { parameters: ["usize", "i32"], result: "i32" },
  // int pcap_get_selectable_fd(pcap_t *p)
  pcap_get_selectable_fd: { parameters: ["usize"], result: "i32" },
  // int pcap_datalink(pcap_t *p)
  pcap_datalink: { parameters: ["usize"], result: "i32" },
  // int pcap_compile(pcap_t *p, struct bpf_program *program, const char *expression,
  //                  int optimize, bpf_u_int32 netmask)
  pcap_compile: { parameters: ["usize", "buffer", "buffer", "i32", "u32"], result: "i32" },
  // int pcap_setfilter(pcap_t *p, struct bpf_program *program)
  pcap_setfilter: { parameters: ["usize", "buffer"], result: "i32" },
  // void pcap_freecode(struct bpf_program *program)
  pcap_freecode: { parameters: ["buffer"], result: "void" },
  // const u_char *pcap_next(pcap_t *p, struct pcap_pkthdr *header); the header is an address
  // (addressOf in libc.ts): called per packet, and a `buffer` parameter costs a call into Deno.
  pcap_next: { parameters: ["usize", "usize"], result: "usize" },
  // int pcap_next_ex(pcap_t *p, struct pcap_pkthdr **header, const u_char **data)
  pcap_next_ex: { parameters: ["usize", "buffer", "buffer"], result: "i32" },
  // int pcap_stats(pcap_t *p, struct pcap_stat *stats)
  pcap_stats: { parameters: ["usize", "buffer"], result: "i32" },
  // char *pcap_geterr(pcap_t *p)
  pcap_geterr: { parameters: ["usize"], result: "usize" },
  // const char *pcap_statustostr(int status)
  pcap_statustostr: { parameters: ["i32"], result: "usize" },
  // void pcap_close(pcap_t *p)
  pcap_close: { parameters: ["usize"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded libpcap. */
export type Libpcap = Deno.DynamicLibrary<typeof LIBPCAP_SYMBOLS>["symbols"];

const loaded = new Map<string, Libpcap>();

/**
 * The libpcap symbols, loaded once per path: from `path` when given (a path configured by the
 * user), else from the first of {@linkcode LIBPCAP_CANDIDATES} that loads.
 *
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for the path (passed through unchanged).
 * @throws {Error} When no candidate loads; the message names the Debian package `libpcap0.8`.
 * @example
 * ```ts
 * import { readCString } from "./libc.ts";
 * import { loadLibpcap } from "./libpcap.ts";
 * const pcap = loadLibpcap();
 * if (!readCString(pcap.pcap_lib_version()).startsWith("libpcap")) throw new Error("not libpcap");
 * ```
 */
export function loadLibpcap(path?: string): Libpcap {
  const key = path ?? "";
  let lib = loaded.get(key);
  if (lib === undefined) {
    const candidates = path === undefined ? LIBPCAP_CANDIDATES : [path];
    const hint = `install the Debian package ${LIBPCAP_PACKAGE}`;
    lib = dlopenFirst("libpcap", candidates, LIBPCAP_SYMBOLS, hint).symbols;
    loaded.set(key, lib);
  }
  return lib;
}
