/**
 * The libc symbols spa binds, the errno reader and the one error class for failed system calls.
 *
 * Under the shipped (scoped) `--allow-ffi`, Deno refuses every `Deno.UnsafePointer` operation, so
 * C pointers are declared `usize`: they arrive as `bigint` and are passed back as they are (a
 * `number` is accepted too, but takes Deno's slow call path: ~90 ns instead of ~12 ns a call).
 * Our own memory goes in as `buffer`; C memory is copied out with `memcpy`.
 *
 * @module
 */

import { dlopenFirst } from "./dlopen.ts";
import { LIBC_CANDIDATES } from "./library_paths.ts";

/** The libc symbol table. */
export const LIBC_SYMBOLS = {
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int setsockopt(int fd, int level, int name, const void *value, socklen_t length)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // ssize_t sendto(int fd, const void *data, size_t length, int flags,
  //                const struct sockaddr *address, socklen_t addressLength)
  sendto: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"],
    result: "isize",
  },
  // ssize_t recvfrom(int fd, void *data, size_t length, int flags, struct sockaddr *address,
  //                  socklen_t *addressLength)
  recvfrom: {
    parameters: ["i32", "buffer", "usize", "i32", "buffer", "buffer"],
    result: "isize",
  },
  // int connect(int fd, const struct sockaddr *address, socklen_t addressLength)
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int getsockname(int fd, struct sockaddr *address, socklen_t *addressLength)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
  // int eventfd(unsigned int initial, int flags)
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  // ssize_t write(int fd, const void *data, size_t length)
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t read(int fd, void *data, size_t length)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // int poll(struct pollfd *fds, nfds_t count, int timeoutMs): runs on a worker thread and
  // returns a Promise, so a wait does not block the event loop.
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32", nonblocking: true },
  // void *memcpy(void *destination, const void *source, size_t length); the result is unused.
  memcpy: { parameters: ["buffer", "usize", "usize"], result: "void" },
  // memcpy again, to an address: a `buffer` parameter costs a call into Deno at every use to find
  // the buffer's memory, an address does not (the capture loop copies every packet; see pcap.ts).
  memcpyTo: { name: "memcpy", parameters: ["usize", "usize", "usize"], result: "void" },
  // void *memset(void *destination, int byte, size_t length): returns `destination`, which is
  // how `addressOf` learns where a buffer of ours is.
  memset: { parameters: ["buffer", "i32", "usize"], result: "usize" },
  // size_t strnlen(const char *text, size_t max)
  strnlen: { parameters: ["usize", "usize"], result: "usize" },
  // char *strerror(int errnum)
  strerror: { parameters: ["i32"], result: "usize" },
  // int *__errno_location(void): the calling thread's errno
  __errno_location: { parameters: [], result: "usize" },
  // unsigned int if_nametoindex(const char *name): 0 when there is no such interface
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
  // int getifaddrs(struct ifaddrs **list)
  getifaddrs: { parameters: ["buffer"], result: "i32" },
  // void freeifaddrs(struct ifaddrs *list)
  freeifaddrs: { parameters: ["usize"], result: "void" },
  // int malloc_trim(size_t pad): glibc returns the free memory of its heaps to the system.
  // Optional (null where the C library has none), so it can never fail the group it is bound in.
  malloc_trim: { parameters: ["usize"], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/**
 * The daemon's memory housekeeping, a group of its own: bound once, at the daemon's start
 * ({@linkcode loadMemorySymbols}), so neither the client nor the daemon's other libc use pays for
 * it.
 */
export const MEMORY_SYMBOLS = {
  // int mallopt(int param, int value): 1 on success, 0 on error. Optional (null where the C
  // library has none), so a libc without it never fails the group.
  mallopt: { parameters: ["i32", "i32"], result: "i32", optional: true },
  // unsigned long getauxval(unsigned long type): the ELF auxiliary vector's entry, 0 if none
  getauxval: { parameters: ["usize"], result: "usize" },
  // int madvise(void *address, size_t length, int advice)
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
  // void *memcpy(void *destination, const void *source, size_t length); the result is unused.
  memcpy: { parameters: ["buffer", "usize", "usize"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded {@linkcode MEMORY_SYMBOLS}. */
export type MemorySymbols = Deno.DynamicLibrary<typeof MEMORY_SYMBOLS>["symbols"];

let memorySymbols: MemorySymbols | undefined;

/**
 * {@linkcode MEMORY_SYMBOLS}, bound on the first call (one `Deno.dlopen` of libc of their own).
 *
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for the libc path.
 * @throws {Error} When no candidate loads.
 * @example
 * ```ts
 * import { AT_PAGESZ, loadMemorySymbols } from "./libc.ts";
 * if (loadMemorySymbols().getauxval(AT_PAGESZ) === 0n) throw new Error("no page size");
 * ```
 */
export function loadMemorySymbols(): MemorySymbols {
  return memorySymbols ??= dlopenFirst(
    "libc",
    LIBC_CANDIDATES,
    MEMORY_SYMBOLS,
    "this is not a glibc system",
  ).symbols;
}

/** `mallopt`'s `M_ARENA_MAX`: the most malloc arenas glibc creates (the main one included). */
export const M_ARENA_MAX = -8;
/** `getauxval`'s `AT_PHDR`: where the program's ELF program headers are mapped. */
export const AT_PHDR = 3n;
/** `getauxval`'s `AT_PHNUM`: how many program headers there are. */
export const AT_PHNUM = 5n;
/** `getauxval`'s `AT_PAGESZ`: the page size. */
export const AT_PAGESZ = 6n;
/** `madvise`'s `MADV_DONTNEED`: drop the pages from this process (a file's come back on use). */
export const MADV_DONTNEED = 4;

/**
 * Caps glibc's malloc arenas at `max` (`mallopt(M_ARENA_MAX, max)`): what `MALLOC_ARENA_MAX=max`
 * in the environment does, from inside the program. glibc otherwise gives each thread that calls
 * malloc while another holds the arena an arena of its own (64 MiB reserved, 1-2 MB of it
 * resident each); threads that already have one keep it, later ones share the existing arenas.
 * Returns whether the C library took the setting (false without `mallopt`, e.g. musl).
 *
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for the libc path.
 * @example
 * ```ts
 * import { limitMallocArenas } from "./libc.ts";
 * if (!limitMallocArenas(8)) throw new Error("glibc takes M_ARENA_MAX");
 * ```
 */
export function limitMallocArenas(max: number): boolean {
  return loadMemorySymbols().mallopt?.(M_ARENA_MAX, max) === 1;
}

/** The loaded libc. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

type SymbolName = keyof typeof LIBC_SYMBOLS;

/**
 * The symbols bound when libc is loaded: what finding a route's source address needs (the udp
 * knock's only use of libc), and what reading `errno` needs. Those two are bound here, not at
 * the first failure: binding a group runs `dlopen` and Deno's own code, which may set `errno`
 * before it is read. The others are bound in groups, each on the first use of any of them.
 */
const FIRST_SYMBOLS: readonly SymbolName[] = [
  "socket",
  "connect",
  "getsockname",
  "close",
  "__errno_location",
  "memcpy",
];

/**
 * What an error's text needs: bound at the first failed call, after its `errno` was read, so a
 * knock that fails nothing does not build their call stubs.
 */
const ERRNO_SYMBOLS: readonly SymbolName[] = ["strnlen", "strerror"];

/**
 * What sending a packet on a raw socket needs: bound apart from the receive side (the wait's
 * `eventfd`, `poll`, `read`, `write` and `recvfrom`), which a syn knock sets up only once its
 * packet is on the wire.
 */
const SEND_SYMBOLS: readonly SymbolName[] = ["setsockopt", "sendto"];

/**
 * Symbols only the daemon uses (interfaces, their addresses, giving the heap back): bound in a group
 * of their own, so a syn knock, which binds the other later symbols for its raw sockets, does not
 * build their four call stubs (about 0.2 ms each: 1.2 ms for a first `Deno.dlopen` of four
 * symbols, 0.8-0.9 ms for a second of four, 0.2 ms for one more of one; `--no-lazy`, this machine).
 */
const HOST_SYMBOLS: readonly SymbolName[] = [
  "if_nametoindex",
  "getifaddrs",
  "freeifaddrs",
  "malloc_trim",
];

let libc: Libc | undefined;

/**
 * The libc symbols, loaded once from {@linkcode LIBC_CANDIDATES}, in up to five `Deno.dlopen`s
 * of the same library: {@linkcode FIRST_SYMBOLS} at once; {@linkcode ERRNO_SYMBOLS},
 * {@linkcode SEND_SYMBOLS}, the rest and {@linkcode HOST_SYMBOLS}, each group on the first use of
 * any of its symbols (a getter that replaces itself and its
 * group with the functions, so later calls cost what they did). Deno builds a call stub per bound symbol: binding all 18 up front cost 2.4-4.7 ms of
 * every client start (p50 of 25 runs: 4.7 ms, against 1.3 ms for six), which a udp knock, using
 * only the first group, no longer pays.
 *
 * @throws {Deno.errors.NotCapable} Without `--allow-ffi` for the libc path (unchanged).
 * @throws {Error} When no candidate loads.
 * @example
 * ```ts
 * import { AF_INET, loadLibc, SOCK_CLOEXEC } from "./libc.ts";
 * const libc = loadLibc();
 * const fd = libc.socket(AF_INET, 2 | SOCK_CLOEXEC, 0); // a UDP socket
 * if (fd < 0 || libc.close(fd) !== 0) throw new Error("socket/close failed");
 * ```
 */
export function loadLibc(): Libc {
  if (libc !== undefined) return libc;
  const bind = (names: readonly SymbolName[]) =>
    dlopenFirst(
      "libc",
      LIBC_CANDIDATES,
      Object.fromEntries(names.map((name) => [name, LIBC_SYMBOLS[name]])),
      "this is not a glibc system",
    ).symbols as Record<string, unknown>;
  const lazy: Record<string, unknown> = { ...bind(FIRST_SYMBOLS) };
  const rest = (Object.keys(LIBC_SYMBOLS) as SymbolName[]).filter((name) =>
    ![FIRST_SYMBOLS, ERRNO_SYMBOLS, SEND_SYMBOLS, HOST_SYMBOLS].some((group) =>
      group.includes(name)
    )
  );
  for (const group of [ERRNO_SYMBOLS, SEND_SYMBOLS, rest, HOST_SYMBOLS]) {
    const bindGroup = () => {
      const bound = bind(group);
      for (const name of group) {
        Object.defineProperty(lazy, name, { value: bound[name], enumerable: true });
      }
    };
    for (const name of group) {
      Object.defineProperty(lazy, name, {
        configurable: true,
        enumerable: true,
        get() {
          bindGroup();
          return lazy[name];
        },
      });
    }
  }
  libc = lazy as Libc;
  return libc;
}

const errnoBytes = new Int32Array(1);
const errnoView = new Uint8Array(errnoBytes.buffer);

/**
 * The calling thread's `errno`, read right after a failed synchronous call.
 *
 * @example
 * ```ts
 * import { loadLibc, readErrno } from "./libc.ts";
 * if (loadLibc().close(-1) === -1 && readErrno() !== 9) throw new Error("expected EBADF");
 * ```
 */
export function readErrno(): number {
  const c = loadLibc();
  c.memcpy(errnoView, c.__errno_location(), 4n);
  return errnoBytes[0]!;
}

/**
 * The address of `bytes`' memory, for parameters declared `usize`. Valid while `bytes` lives: V8
 * never moves an ArrayBuffer's memory, so the caller keeps `bytes` referenced (and never transfers
 * its buffer) for as long as it passes the address.
 *
 * @example
 * ```ts
 * import { addressOf, loadLibc } from "./libc.ts";
 * const target = new Uint8Array(4);
 * const source = new Uint8Array([1, 2, 3, 4]);
 * loadLibc().memcpyTo(addressOf(target), addressOf(source), 4n);
 * if (target.join() !== "1,2,3,4") throw new Error(target.join());
 * ```
 */
export function addressOf(bytes: Uint8Array): bigint {
  // memset of 0 bytes changes nothing and returns its first argument.
  return loadLibc().memset(bytes, 0, 0n);
}

/**
 * Copies the NUL-terminated C string at `pointer` (at most `max` bytes) into a JS string.
 *
 * @example
 * ```ts
 * import { loadLibc, readCString } from "./libc.ts";
 * const text = readCString(loadLibc().strerror(1));
 * if (text !== "Operation not permitted") throw new Error(text);
 * ```
 */
export function readCString(pointer: bigint, max = 4096): string {
  if (pointer === 0n) return "";
  const c = loadLibc();
  const length = c.strnlen(pointer, BigInt(max));
  const bytes = new Uint8Array(Number(length));
  if (length > 0n) c.memcpy(bytes, pointer, length);
  return new TextDecoder().decode(bytes);
}

/**
 * Encodes `text` as a NUL-terminated C string for a `buffer` parameter.
 *
 * @throws {TypeError} When `text` contains a NUL character.
 * @example
 * ```ts
 * import { cString } from "./libc.ts";
 * if (cString("eth0").length !== 5) throw new Error("expected a trailing NUL");
 * ```
 */
export function cString(text: string): Uint8Array<ArrayBuffer> {
  if (text.includes("\0")) throw new TypeError("Cannot pass string to C: it contains a NUL");
  return new TextEncoder().encode(`${text}\0`);
}

/** IPv4 address family (Linux numbering, as every constant here). */
export const AF_INET = 2;
/** IPv6 address family. */
export const AF_INET6 = 10;
/** `SOCK_CLOEXEC`: or-ed into a socket type so programs we run do not inherit the socket. */
export const SOCK_CLOEXEC = 0o2000000;
/** `SOCK_RAW`: a raw socket's type. */
export const SOCK_RAW = 3;

/**
 * A `struct sockaddr_in` (4 address bytes) or `struct sockaddr_in6` (16 bytes) for `address`.
 *
 * @throws {TypeError} When `address` is not 4 or 16 bytes long.
 * @example
 * ```ts
 * import { socketAddress } from "./libc.ts";
 * if (socketAddress(new Uint8Array([10, 77, 0, 1]), 9).length !== 16) throw new Error("unexpected");
 * ```
 */
export function socketAddress(address: Uint8Array, port = 0): Uint8Array<ArrayBuffer> {
  if (address.length !== 4 && address.length !== 16) {
    throw new TypeError(
      `Cannot build socket address: expected 4 or 16 bytes, got ${address.length}`,
    );
  }
  const v4 = address.length === 4;
  const out = new Uint8Array(v4 ? 16 : 28);
  const view = new DataView(out.buffer);
  view.setUint16(0, v4 ? AF_INET : AF_INET6, true); // sa_family_t, host order
  view.setUint16(2, port, false); // in_port_t, network order
  out.set(address, v4 ? 4 : 8); // sin_addr, or sin6_addr after sin6_flowinfo
  return out;
}

/** `errno` of an operation not permitted. */
export const EPERM = 1;
/** `errno` of a call interrupted by a signal. */
export const EINTR = 4;
/** `errno` of a non-blocking call that would block. */
export const EAGAIN = 11;
const EACCES = 13;

/** Names of the errno values spa's calls can produce. */
const ERRNO_NAMES: Readonly<Record<number, string>> = {
  [EPERM]: "EPERM",
  [EINTR]: "EINTR",
  9: "EBADF",
  [EAGAIN]: "EAGAIN",
  12: "ENOMEM",
  [EACCES]: "EACCES",
  19: "ENODEV",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  90: "EMSGSIZE",
  93: "EPROTONOSUPPORT",
  97: "EAFNOSUPPORT",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  105: "ENOBUFS",
  113: "EHOSTUNREACH",
};

/**
 * Whether `errno` says the caller lacks a privilege (`EPERM` or `EACCES`): for spa's calls, that it
 * needs root or CAP_NET_RAW.
 *
 * @example
 * ```ts
 * import { EPERM, isPermissionDenied } from "./libc.ts";
 * if (!isPermissionDenied(EPERM) || isPermissionDenied(9)) throw new Error("unexpected");
 * ```
 */
export function isPermissionDenied(errno: number): boolean {
  return errno === EPERM || errno === EACCES;
}

/** A failed libc call, with its errno: the error callers catch to tell `EPERM` and the like. */
export class SystemError extends Error {
  /** The errno value, e.g. 1. */
  readonly errno: number;
  /** The errno name, e.g. `EPERM` (or `E<number>` for an unlisted one). */
  readonly code: string;
  /**
   * The message without its "Cannot <operation>: " prefix, e.g. "needs root or CAP_NET_RAW
   * (EPERM)", for a caller wrapping the failure in a sentence of its own.
   */
  readonly reason: string;

  /**
   * @example
   * ```ts
   * import { SystemError } from "./libc.ts";
   * const error = new SystemError("open a raw socket", 1, "needs root or CAP_NET_RAW");
   * if (error.code !== "EPERM") throw new Error("unexpected");
   * if (error.reason !== "needs root or CAP_NET_RAW (EPERM)") throw new Error("unexpected");
   * ```
   */
  constructor(operation: string, errno: number, reason: string) {
    const code = ERRNO_NAMES[errno] ?? `E${errno}`;
    super(`Cannot ${operation}: ${reason} (${code})`);
    this.errno = errno;
    this.code = code;
    this.reason = `${reason} (${code})`;
  }

  override get name(): string {
    return "SystemError";
  }
}

/**
 * The one mapper from errno to a {@linkcode SystemError}: reads `errno` now (call it right after
 * the failed call) unless given. `EPERM`/`EACCES` read "needs root or CAP_NET_RAW"; anything else
 * carries libc's `strerror` text.
 *
 * @example
 * ```ts
 * import { loadLibc, SystemError, systemError } from "./libc.ts";
 * if (loadLibc().close(-1) !== -1) throw new Error("closing fd -1 must fail");
 * const error = systemError("close a socket");
 * if (!(error instanceof SystemError) || error.errno !== 9) throw new Error("expected EBADF");
 * ```
 */
export function systemError(operation: string, errno: number = readErrno()): SystemError {
  const reason = isPermissionDenied(errno)
    ? "needs root or CAP_NET_RAW"
    : readCString(loadLibc().strerror(errno), 256).toLowerCase();
  return new SystemError(operation, errno, reason);
}
