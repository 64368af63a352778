/**
 * The host's network interfaces as libc sees them: whether one exists, and every address the host
 * owns. Neither needs a privilege or a Deno permission beyond libc's FFI.
 *
 * @module
 */

import { AF_INET, AF_INET6, cString, loadLibc, systemError } from "./libc.ts";

// struct ifaddrs on LP64 (glibc): ifa_next (0), ifa_name (8), ifa_flags (16, then 4 bytes of
// padding), ifa_addr (24), ifa_netmask (32), ifa_ifu (40), ifa_data (48).
const IFADDRS_SIZE = 56n;
const IFA_NEXT = 0;
const IFA_NAME = 1;
const IFA_ADDR = 3;
/** sockaddr_in6 is the longest address read here: family (2), port (2), flowinfo (4), addr (16). */
const SOCKADDR_READ = 24n;

/**
 * The interface index of `name`, or 0 when the host has no such interface.
 *
 * @example
 * ```ts
 * import { interfaceIndex } from "./interfaces.ts";
 * if (interfaceIndex("lo") === 0) throw new Error("lo is always there");
 * if (interfaceIndex("spa-absent0") !== 0) console.log("spa-absent0 is not there (yet)");
 * ```
 */
export function interfaceIndex(name: string): number {
  return loadLibc().if_nametoindex(cString(name));
}

/** An address of one of the host's interfaces. */
export interface InterfaceAddress {
  /** The interface name, e.g. `eth0`. */
  readonly interface: string;
  /** 4 or 16 bytes. */
  readonly address: Uint8Array;
}

/**
 * Every IPv4 and IPv6 address of every interface of the host (its network namespace), read with
 * `getifaddrs`.
 *
 * @throws {SystemError} When `getifaddrs` fails.
 * @example
 * ```ts
 * import { hostAddresses } from "./interfaces.ts";
 * const loopback = hostAddresses().filter((a) => a.interface === "lo");
 * if (!loopback.some((a) => a.address.join(".") === "127.0.0.1")) throw new Error("no 127.0.0.1");
 * ```
 */
export function hostAddresses(): InterfaceAddress[] {
  const libc = loadLibc();
  const head = new BigUint64Array(1);
  if (libc.getifaddrs(new Uint8Array(head.buffer)) !== 0) {
    throw systemError("list the host's addresses");
  }
  const found: InterfaceAddress[] = [];
  const entry = new BigUint64Array(Number(IFADDRS_SIZE) / 8);
  const entryBytes = new Uint8Array(entry.buffer);
  const sockaddr = new Uint8Array(Number(SOCKADDR_READ));
  const names = new Map<bigint, string>();
  try {
    for (let node = head[0]!; node !== 0n; node = entry[IFA_NEXT]!) {
      libc.memcpy(entryBytes, node, IFADDRS_SIZE);
      const addr = entry[IFA_ADDR]!;
      if (addr === 0n) continue;
      libc.memcpy(sockaddr, addr, 2n);
      const family = sockaddr[0]! | (sockaddr[1]! << 8); // sa_family_t, host order (little endian)
      if (family !== AF_INET && family !== AF_INET6) continue;
      libc.memcpy(sockaddr, addr, family === AF_INET ? 8n : SOCKADDR_READ);
      const namePointer = entry[IFA_NAME]!;
      let name = names.get(namePointer);
      if (name === undefined) {
        name = readName(namePointer);
        names.set(namePointer, name);
      }
      found.push({
        interface: name,
        address: family === AF_INET ? sockaddr.slice(4, 8) : sockaddr.slice(8, 24),
      });
    }
  } finally {
    libc.freeifaddrs(head[0]!);
  }
  return found;
}

function readName(pointer: bigint): string {
  const libc = loadLibc();
  const length = libc.strnlen(pointer, 64n);
  const bytes = new Uint8Array(Number(length));
  if (length > 0n) libc.memcpy(bytes, pointer, length);
  return new TextDecoder().decode(bytes);
}
