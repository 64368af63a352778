/**
 * A bounded IPv4 UDP flood: a reusable module and a CLI. It sends from whatever network namespace
 * it runs in (start it with `ip netns exec` or `Topology.spawn`) with libc `sendmmsg` in batches.
 * Every flood is bounded by a packet count and a duration, and stops by itself.
 *
 * It sends ready-made Ethernet frames on an `AF_PACKET` socket (needs CAP_NET_RAW), skipping the
 * sender's IP stack: 400–470k packets/s here (2 cores, a veth on the harness's bridge; a kernel
 * UDP socket managed 180–250k). Frames go to `destinationMac`, by default a locally administered
 * address no host has, so the bridge floods them to every port and every capture sees them, but
 * no host's IP stack spends time on them. `source` may be spoofed.
 *
 * ```sh
 * ip netns exec NS deno run -A bench/flood.ts --to 10.77.0.1 --count 1000000 --rate 500000 \
 *   --seconds 10 --size 72 --random
 * ```
 * The CLI prints one JSON line: `{"sent":…,"seconds":…,"rate":…}`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { openFloodLibc } from "../ffi/bench_libc.ts";
import { systemError } from "../ffi/libc.ts";
import { localAddressFor } from "../ffi/local_address.ts";
import { parseAddress } from "../lib/packet/mod.ts";
import { TRAILER_LENGTH } from "../lib/protocol/constants.ts";

/** Options of {@linkcode flood}. */
export interface FloodOptions {
  /** Destination IPv4 address, dotted (e.g. `10.77.0.1`). */
  destination: string;
  /** Destination UDP port; default 9 (discard). */
  port?: number;
  /** Packets to send at most (the count bound). */
  count: number;
  /** Seconds to run at most (the time bound); default 10. */
  seconds?: number;
  /** Target rate in packets per second; default 0 = as fast as possible. */
  rate?: number;
  /** UDP payload bytes; default 72 (a 100-byte IP packet). */
  payloadSize?: number;
  /** Fresh random payload bytes in every batch; default false (zero bytes). */
  random?: boolean;
  /**
   * Write this 5-byte UID where a trailer's UID sits (37 bytes before the payload's end), as a
   * forged trailer for a known user would; needs `payloadSize` ≥ 37.
   */
  trailerUid?: number;
  /** Messages per `sendmmsg` call; default 256. */
  batch?: number;
  /** The interface to send on; default `eth0`. */
  interface?: string;
  /** Destination MAC; default `02:00:00:00:00:00` (no host). */
  destinationMac?: string;
  /** IPv4 source address; default the one the kernel would choose. */
  source?: string;
  /**
   * Spoof this many source addresses, cycling through 10.77.128.0–10.77.255.255
   * (one per packet, `sources` ≤ 32768); default 1 (`source`). Each frame then has its own header.
   */
  sources?: number;
}

/** First address of the spoofed-source pool: 10.77.128.0 (10.77.128.0/17). */
const SPOOF_POOL = [10, 77, 128, 0] as const;

/** What {@linkcode flood} did. */
export interface FloodResult {
  /** Packets the kernel accepted. */
  sent: number;
  /** Wall time of the flood. */
  seconds: number;
  /** `sent / seconds`. */
  rate: number;
}

const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_IP = 0x0800;
const MMSGHDR_SIZE = 64; // struct mmsghdr on LP64 (x86_64, aarch64)
const IOVEC_SIZE = 16;
const SOCKADDR_LL_SIZE = 20;
const FRAME_HEADER_SIZE = 42; // Ethernet 14 + IPv4 20 + UDP 8
const SOURCE_PORT = 40000;
const NO_HOST_MAC = "02:00:00:00:00:00";

/**
 * Sends UDP datagrams to `destination` until `count` are sent or `seconds` pass, paced to `rate`.
 *
 * @throws {TypeError} When an address is malformed.
 * @throws {RangeError} When a number option is out of range.
 * @throws {SystemError} When the packet socket cannot be opened (it needs CAP_NET_RAW).
 * @example
 * ```ts ignore
 * const result = await flood({ destination: "10.77.0.1", count: 100_000, rate: 50_000 });
 * ```
 */
export async function flood(options: FloodOptions): Promise<FloodResult> {
  const destination = parseIpv4(options.destination);
  const port = options.port ?? 9;
  const seconds = options.seconds ?? 10;
  const rate = options.rate ?? 0;
  const size = options.payloadSize ?? 72;
  const batch = options.batch ?? 256;
  checkInteger("port", port, 1, 65535);
  checkInteger("count", options.count, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("payloadSize", size, options.trailerUid === undefined ? 0 : TRAILER_LENGTH, 1472);
  checkInteger("batch", batch, 1, 1024);
  const sources = options.sources ?? 1;
  checkInteger("sources", sources, 1, 32_768);
  if (!(seconds > 0)) {
    throw new RangeError(`Cannot flood: seconds must be positive, got ${seconds}`);
  }
  if (!(rate >= 0)) throw new RangeError(`Cannot flood: rate must be ≥ 0, got ${rate}`);

  // The message name: where each datagram goes.
  const name = linkAddress(options.interface ?? "eth0", options.destinationMac ?? NO_HOST_MAC);
  // Each message is [one shared Ethernet/IPv4/UDP header][payload]: two iovecs.
  const header = frameHeader(options, destination, port, size);
  const iovecs = 2;

  const c = openFloodLibc();
  const fd = c.symbols.socket(AF_PACKET, SOCK_RAW, 0); // protocol 0: send only, receive nothing
  if (fd < 0) throw systemError("open a packet socket");
  // One C block: [mmsghdr × batch][iovec × iovecs × batch][name][header × headers]
  // [payload × batch]: one shared header, or one per frame when spoofing many sources.
  const headers = sources > 1 ? batch : 1;
  const iovOffset = batch * MMSGHDR_SIZE;
  const nameOffset = iovOffset + batch * iovecs * IOVEC_SIZE;
  const headerOffset = nameOffset + name.length;
  const payloadOffset = headerOffset + header.length * headers;
  const total = payloadOffset + batch * size;
  const base = c.symbols.malloc(BigInt(total));
  try {
    if (base === 0n) throw new Error("Cannot flood: out of memory");
    const layout = new Uint8Array(total);
    const view = new DataView(layout.buffer);
    const address = (offset: number) => base + BigInt(offset);
    for (let i = 0; i < batch; i++) {
      const m = i * MMSGHDR_SIZE;
      const v = iovOffset + i * iovecs * IOVEC_SIZE;
      view.setBigUint64(m, address(nameOffset), true); // msg_name
      view.setUint32(m + 8, name.length, true); // msg_namelen
      view.setBigUint64(m + 16, address(v), true); // msg_iov
      view.setBigUint64(m + 24, BigInt(iovecs), true); // msg_iovlen
      const own = headers > 1 ? i * header.length : 0;
      view.setBigUint64(v, address(headerOffset + own), true); // iov_base: the frame's header
      view.setBigUint64(v + 8, BigInt(header.length), true); // iov_len
      const payload = v + (iovecs - 1) * IOVEC_SIZE;
      view.setBigUint64(payload, address(payloadOffset + i * size), true); // iov_base
      view.setBigUint64(payload + 8, BigInt(size), true); // iov_len
    }
    layout.set(name, nameOffset);
    for (let i = 0; i < headers; i++) layout.set(header, headerOffset + i * header.length);
    // Spoofed sources: the headers of one batch, rewritten before every send.
    const spoofed = headers > 1 ? layout.slice(headerOffset, payloadOffset) : undefined;
    let nextSource = 0;
    const uid = options.trailerUid === undefined ? undefined : uidBytes(options.trailerUid);
    if (uid !== undefined) {
      for (let i = 0; i < batch; i++) {
        layout.set(uid, payloadOffset + (i + 1) * size - TRAILER_LENGTH);
      }
    }
    c.symbols.memcpy(base, layout, BigInt(total));

    const payloads = address(payloadOffset);
    const payloadBytes = BigInt(batch * size);
    const start = performance.now();
    const deadline = start + seconds * 1000;
    let sent = 0;
    while (sent < options.count) {
      const now = performance.now();
      if (now >= deadline) break;
      if (rate > 0) {
        const ahead = (sent / rate) * 1000 - (now - start);
        if (ahead > 1) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(ahead, deadline - now)));
          continue;
        }
      }
      if (options.random) {
        c.symbols.getrandom(payloads, payloadBytes, 0);
        if (uid !== undefined) {
          for (let i = 0; i < batch; i++) {
            c.symbols.memcpy(address(payloadOffset + (i + 1) * size - TRAILER_LENGTH), uid, 5n);
          }
        }
      }
      if (spoofed !== undefined) {
        for (let i = 0; i < batch; i++) {
          setSource(spoofed, i * header.length, nextSource);
          nextSource = (nextSource + 1) % sources;
        }
        c.symbols.memcpy(address(headerOffset), spoofed, BigInt(spoofed.length));
      }
      const n = c.symbols.sendmmsg(fd, base, Math.min(batch, options.count - sent), 0);
      if (n < 0) {
        const error = systemError("send a flood batch");
        // A full queue (ENOBUFS/EAGAIN) is back pressure: yield and try again.
        if (error.code !== "ENOBUFS" && error.code !== "EAGAIN") throw error;
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      sent += n;
    }
    const elapsed = (performance.now() - start) / 1000;
    return { sent, seconds: elapsed, rate: elapsed > 0 ? sent / elapsed : 0 };
  } finally {
    if (base !== 0n) c.symbols.free(base);
    c.symbols.close(fd);
    c.close();
  }
}

/** The Ethernet, IPv4 and UDP headers every frame of a flood shares. */
function frameHeader(
  options: FloodOptions,
  destination: Uint8Array,
  port: number,
  size: number,
): Uint8Array {
  const source = options.source === undefined
    ? localAddressFor(destination)
    : parseIpv4(options.source);
  const ifname = options.interface ?? "eth0";
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out.set(parseMac(options.destinationMac ?? NO_HOST_MAC), 0);
  out.set(parseMac(Deno.readTextFileSync(`/sys/class/net/${ifname}/address`).trim()), 6);
  view.setUint16(12, ETH_P_IP);
  const ip = 14;
  out[ip] = 0x45; // version 4, 5 words
  view.setUint16(ip + 2, 20 + 8 + size); // total length
  view.setUint16(ip + 6, 0x4000); // don't fragment
  out[ip + 8] = 64; // TTL
  out[ip + 9] = 17; // UDP
  out.set(source, ip + 12);
  out.set(destination, ip + 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += view.getUint16(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  view.setUint16(ip + 10, ~sum & 0xffff);
  view.setUint16(34, SOURCE_PORT);
  view.setUint16(36, port);
  view.setUint16(38, 8 + size); // UDP length; checksum 0 = none (allowed over IPv4)
  return out;
}

/** Writes pool address `k` as the IPv4 source of the frame header at `offset`, and its checksum. */
function setSource(headers: Uint8Array, offset: number, k: number): void {
  const ip = offset + 14;
  headers[ip + 12] = SPOOF_POOL[0];
  headers[ip + 13] = SPOOF_POOL[1];
  headers[ip + 14] = SPOOF_POOL[2] + (k >>> 8);
  headers[ip + 15] = k & 0xff;
  headers[ip + 10] = 0;
  headers[ip + 11] = 0;
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (headers[ip + i]! << 8) | headers[ip + i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  headers[ip + 10] = (~sum >>> 8) & 0xff;
  headers[ip + 11] = ~sum & 0xff;
}

/** A `struct sockaddr_ll` naming the interface and the destination MAC. */
function linkAddress(ifname: string, mac: string): Uint8Array {
  const out = new Uint8Array(SOCKADDR_LL_SIZE);
  const view = new DataView(out.buffer);
  view.setUint16(0, AF_PACKET, true);
  view.setUint16(2, ETH_P_IP); // network order
  view.setInt32(4, Number(Deno.readTextFileSync(`/sys/class/net/${ifname}/ifindex`)), true);
  out[11] = 6; // sll_halen
  out.set(parseMac(mac), 12);
  return out;
}

function parseIpv4(text: string): Uint8Array {
  const address = parseAddress(text);
  if (address?.length !== 4) {
    throw new TypeError(`Cannot flood: "${text}" is not a dotted IPv4 address`);
  }
  return address;
}

function parseMac(text: string): Uint8Array {
  const parts = text.split(":").map((part) => parseInt(part, 16));
  if (parts.length !== 6 || !parts.every((p) => p >= 0 && p <= 255)) {
    throw new TypeError(`Cannot flood: "${text}" is not a MAC address`);
  }
  return Uint8Array.from(parts);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot flood: ${name} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
}

function uidBytes(uid: number): Uint8Array {
  checkInteger("trailerUid", uid, 0, 2 ** 40 - 1);
  const out = new Uint8Array(5);
  out[0] = Math.floor(uid / 2 ** 32);
  new DataView(out.buffer).setUint32(1, uid >>> 0);
  return out;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      to: { type: "string" },
      port: { type: "string", default: "9" },
      count: { type: "string", default: "1000000" },
      seconds: { type: "string", default: "10" },
      rate: { type: "string", default: "0" },
      size: { type: "string", default: "72" },
      random: { type: "boolean", default: false },
      uid: { type: "string" },
      batch: { type: "string", default: "256" },
      interface: { type: "string", default: "eth0" },
      mac: { type: "string" },
      source: { type: "string" },
      sources: { type: "string" },
    },
  });
  if (values.to === undefined) {
    console.error(
      "usage: flood.ts --to IPV4 [--port N] [--count N] [--seconds S] [--rate PPS] [--size BYTES]\n" +
        "  [--random] [--uid N] [--batch N] [--interface IF] [--mac MAC]\n" +
        "  [--source IPV4] [--sources N]",
    );
    Deno.exit(2);
  }
  const result = await flood({
    destination: values.to,
    port: Number(values.port),
    count: Number(values.count),
    seconds: Number(values.seconds),
    rate: Number(values.rate),
    payloadSize: Number(values.size),
    random: values.random,
    batch: Number(values.batch),
    interface: values.interface,
    ...(values.uid === undefined ? {} : { trailerUid: Number(values.uid) }),
    ...(values.mac === undefined ? {} : { destinationMac: values.mac }),
    ...(values.source === undefined ? {} : { source: values.source }),
    ...(values.sources === undefined ? {} : { sources: Number(values.sources) }),
  });
  console.log(JSON.stringify(result));
}
