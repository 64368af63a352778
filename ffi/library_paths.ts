/**
 * Where spa looks for the two native libraries it binds. This file is data only: the loaders in
 * `ffi/` and the permission table in `lib/permissions.ts` read the same lists, so the `--allow-ffi`
 * scope of each binary names exactly the files the loaders may open.
 *
 * @module
 */

/** Debian/Ubuntu multiarch folders, then the plain ones, for x86_64 and aarch64. */
const LIBRARY_DIRS = [
  "/usr/lib/x86_64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
] as const;

/**
 * Absolute paths tried, in order, for libpcap (`libpcap.so.1` upstream, `libpcap.so.0.8` on Debian).
 *
 * @example Find the first candidate
 * ```ts
 * import { LIBPCAP_CANDIDATES } from "./library_paths.ts";
 * if (!LIBPCAP_CANDIDATES[0]?.endsWith("libpcap.so.1")) throw new Error("unexpected order");
 * ```
 */
export const LIBPCAP_CANDIDATES: readonly string[] = LIBRARY_DIRS.flatMap((dir) => [
  `${dir}/libpcap.so.1`,
  `${dir}/libpcap.so.0.8`,
]);

/**
 * Absolute paths tried, in order, for the C library (`libc.so.6`, glibc's soname).
 *
 * @example
 * ```ts
 * import { LIBC_CANDIDATES } from "./library_paths.ts";
 * if (!LIBC_CANDIDATES.every((p) => p.endsWith("/libc.so.6"))) throw new Error("unexpected");
 * ```
 */
export const LIBC_CANDIDATES: readonly string[] = LIBRARY_DIRS.map((dir) => `${dir}/libc.so.6`);

/** The Debian package that provides libpcap, named in the error when none is found. */
export const LIBPCAP_PACKAGE = "libpcap0.8";
