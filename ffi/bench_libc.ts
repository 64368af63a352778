/**
 * The libc symbols only the benchmarks bind (every FFI symbol table lives in `ffi/`): the
 * flooder's `sendmmsg` from C memory (`bench/flood.ts`) and the non-blocking connect poller of
 * `bench/e2e/connect_poller.ts`. The product never loads these.
 *
 * @module
 */

import { dlopenFirst } from "./dlopen.ts";
import { LIBC_CANDIDATES } from "./library_paths.ts";

/** The flooder's libc symbols (pointers into C memory as `usize`). */
export const FLOOD_LIBC_SYMBOLS = {
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int sendmmsg(int fd, struct mmsghdr *messages, unsigned int count, int flags)
  sendmmsg: { parameters: ["i32", "usize", "u32", "i32"], result: "i32" },
  // void *malloc(size_t size)
  malloc: { parameters: ["usize"], result: "usize" },
  // void free(void *memory)
  free: { parameters: ["usize"], result: "void" },
  // void *memcpy(void *destination, const void *source, size_t length), into C memory
  memcpy: { parameters: ["usize", "buffer", "usize"], result: "usize" },
  // ssize_t getrandom(void *buffer, size_t length, unsigned int flags), into C memory
  getrandom: { parameters: ["usize", "usize", "u32"], result: "isize" },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The flooder's loaded libc. */
export type FloodLibc = Deno.DynamicLibrary<typeof FLOOD_LIBC_SYMBOLS>;

/**
 * Opens libc with {@linkcode FLOOD_LIBC_SYMBOLS}; the caller closes it.
 *
 * @example
 * ```ts
 * import { openFloodLibc } from "./bench_libc.ts";
 * const libc = openFloodLibc();
 * libc.close();
 * ```
 */
export function openFloodLibc(): FloodLibc {
  return dlopenFirst("libc", LIBC_CANDIDATES, FLOOD_LIBC_SYMBOLS, "this is not a glibc system");
}

/** The connect poller's libc symbols. */
export const CONNECT_LIBC_SYMBOLS = {
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // int bind(int fd, const struct sockaddr *address, socklen_t length)
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int connect(int fd, const struct sockaddr *address, socklen_t length)
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  // int getsockopt(int fd, int level, int name, void *value, socklen_t *length)
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  // int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
  ppoll: { parameters: ["buffer", "usize", "buffer", "usize"], result: "i32", nonblocking: true },
  // int close(int fd)
  close: { parameters: ["i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The connect poller's loaded libc. */
export type ConnectLibc = Deno.DynamicLibrary<typeof CONNECT_LIBC_SYMBOLS>;

/**
 * Opens libc with {@linkcode CONNECT_LIBC_SYMBOLS}; the caller closes it.
 *
 * @example
 * ```ts
 * import { openConnectLibc } from "./bench_libc.ts";
 * const libc = openConnectLibc();
 * libc.close();
 * ```
 */
export function openConnectLibc(): ConnectLibc {
  return dlopenFirst("libc", LIBC_CANDIDATES, CONNECT_LIBC_SYMBOLS, "this is not a glibc system");
}
