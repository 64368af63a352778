/**
 * The local address the kernel would use toward a destination.
 *
 * @module
 */

import { AF_INET, AF_INET6, loadLibc, SOCK_CLOEXEC, socketAddress, systemError } from "./libc.ts";

const SOCK_DGRAM = 2;
/** Any non-zero port: connecting a UDP socket only selects a route; nothing is sent. */
const PROBE_PORT = 9;

/**
 * The source address (4 or 16 bytes, like `destination`) the kernel's routing picks for packets
 * to `destination`, found by connecting a UDP socket and reading its name; no packet is sent and
 * no privilege is needed.
 *
 * @throws {TypeError} When `destination` is not 4 or 16 bytes long.
 * @throws {SystemError} When there is no route (e.g. `ENETUNREACH`).
 * @example
 * ```ts
 * import { localAddressFor } from "./local_address.ts";
 * const source = localAddressFor(new Uint8Array([127, 0, 0, 1]));
 * if (source.join(".") !== "127.0.0.1") throw new Error(source.join("."));
 * ```
 */
export function localAddressFor(destination: Uint8Array): Uint8Array {
  const target = socketAddress(destination, PROBE_PORT);
  const v4 = destination.length === 4;
  const libc = loadLibc();
  const fd = libc.socket(v4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw systemError("open a UDP socket");
  try {
    if (libc.connect(fd, target, target.length) < 0) {
      throw systemError("find a local address toward the destination");
    }
    const name = new Uint8Array(target.length);
    const nameLength = new Uint32Array([name.length]);
    if (libc.getsockname(fd, name, new Uint8Array(nameLength.buffer)) < 0) {
      throw systemError("read the local address");
    }
    return v4 ? name.slice(4, 8) : name.slice(8, 24);
  } finally {
    libc.close(fd);
  }
}
