/**
 * The capture child of `bench/capture.ts`: `Capture` on eth0 with the trailer inspection a daemon
 * does first on every packet, run under the exact spa-server flags in the server's namespace.
 * Prints "ready" once reading, "warm" after the warm-up flood (drain), and its report as JSON.
 *
 * ```sh
 * deno run <serverFlags> bench/capture_child.ts --child=drain --ring=1024 --count=1200000 --warm=200000
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Capture } from "../ffi/pcap.ts";
import { TRAILER_LENGTH } from "../lib/protocol/constants.ts";

/** The UID the flood's trailers carry, one of the 100 known to the child. */
export const KNOWN_UID = 1000;
/** The drain counts packets exactly, so the child and tcpdump take only the flood. */
export const FLOOD_FILTER = "udp dst port 9";
/** The drain child takes a timestamp every this many packets (the warm-up is a multiple). */
export const MARK_EVERY = 50_000;

/** What a capture child reports when it ends. */
export interface ChildReport {
  handled: number;
  known: number;
  dropped: number;
  /** From the first drained packet to the last (the read loop alone). */
  drainSeconds: number;
  /** From the last packet to the report printed, to the capture closed (ring unmapped). */
  reportSeconds: number;
  closeSeconds: number;
}

/**
 * Child: capture eth0 with trailer inspection; `live` until stdin closes, `drain` until `count`.
 *
 * The per-packet callback takes the same branches while warming up as while draining: a branch
 * first taken at the drain's first packet (the old `handled === warm` timestamp) made V8 throw
 * away the optimized read loop right after SIGCONT (`--trace-deopt`: "Insufficient type feedback"),
 * and the drain ran in slower tiers until the loop was compiled again, which on a loaded 2-core
 * machine took 30-40 ms of the 70-150 ms drain. A daemon's loop, taking the same branches for
 * every packet, does not pay that; so timestamps are taken at every `MARK_EVERY`th packet, warm-up
 * included, and "warm" is printed from a timer, outside the loop.
 */
async function child(mode: string, ringMib: number, count: number, warm: number): Promise<void> {
  // The inspection a daemon does first on every packet: the 5-byte UID 37 bytes from the end,
  // looked up among the known users.
  const users = new Map<number, number>();
  for (let uid = KNOWN_UID; uid < KNOWN_UID + 100; uid++) users.set(uid, 0);
  let handled = 0;
  let known = 0;
  let last = 0;
  // Times of packets 1, MARK_EVERY + 1, 2 × MARK_EVERY + 1, …: with `warm` a multiple of
  // MARK_EVERY, the drain's first packet (warm + 1) is one of them.
  const marks = new Float64Array(Math.ceil(Math.max(count, warm) / MARK_EVERY) + 1);
  let nextMark = 1;
  let mark = 0;
  // The drain counts packets exactly, so it takes only the flood (tcpdump gets the same filter).
  const drain = mode !== "live";
  const filter = drain ? { filter: FLOOD_FILTER } : {};
  const capture = Capture.open("eth0", { bufferSize: ringMib * 1024 * 1024, ...filter });
  const stop = new AbortController();
  const inspect = (frame: Uint8Array, length: number) => {
    if (length < TRAILER_LENGTH) return;
    const at = length - TRAILER_LENGTH;
    const low = (frame[at + 1]! << 24) | (frame[at + 2]! << 16) | (frame[at + 3]! << 8) |
      frame[at + 4]!;
    const uid = frame[at]! * 2 ** 32 + (low >>> 0);
    const seen = users.get(uid);
    if (seen !== undefined) {
      users.set(uid, seen + 1);
      known++;
    }
  };
  const end = () => {
    last = performance.now();
    stop.abort();
  };
  const onPacket = mode === "drain-first-packet"
    // The method before issue 15: a timestamp, and "warm", on branches first taken at the drain's
    // first packet and at the warm-up's last.
    ? (frame: Uint8Array, length: number) => {
      if (handled++ === warm) marks[warm / MARK_EVERY] = performance.now();
      inspect(frame, length);
      if (handled === warm && warm > 0) console.log("warm");
      if (handled === count) end();
    }
    : (frame: Uint8Array, length: number) => {
      if (++handled === nextMark) {
        marks[mark++] = performance.now();
        nextMark += MARK_EVERY;
      }
      inspect(frame, length);
      if (handled === count) end();
    };
  const done = capture.run(onPacket, stop.signal);
  console.log("ready");
  if (mode === "live") {
    for await (const _ of Deno.stdin.readable) { /* until the parent closes stdin */ }
    stop.abort();
  } else {
    const printWarm = mode === "drain";
    // "warm" once the warm-up flood is read (from a timer: the loop's branches stay the same).
    // Should the ring have overflowed, the count is never reached: stop once the drain, having
    // started (more packets than when "warm" was printed), stalls.
    let atWarm = -1;
    let seen = 0;
    const tick = setInterval(() => {
      if (atWarm < 0 && handled >= warm) {
        atWarm = handled;
        if (printWarm) console.log("warm");
      } else if (atWarm >= 0 && handled > atWarm && handled === seen) {
        stop.abort();
      }
      seen = handled;
    }, 200);
    stop.signal.addEventListener("abort", () => clearInterval(tick));
  }
  await done;
  const first = marks[warm / MARK_EVERY] ?? last;
  const report: Omit<ChildReport, "reportSeconds" | "closeSeconds"> = {
    handled,
    known,
    dropped: capture.stats().dropped,
    drainSeconds: (last - first) / 1000,
  };
  console.log(JSON.stringify(report));
  const reported = performance.now();
  capture.close(); // releases the ring: unmaps it and closes the socket (tcpdump: pcap_close too)
  const closed = performance.now();
  console.log(JSON.stringify({
    reportSeconds: (reported - last) / 1000,
    closeSeconds: (closed - reported) / 1000,
  }));
  Deno.exit(0); // like tcpdump: exit once done, without waiting for the runtime's teardown
}

if (import.meta.main) {
  const { values } = parseArgs({
    strict: false,
    options: {
      child: { type: "string" },
      ring: { type: "string" },
      count: { type: "string" },
      warm: { type: "string" },
    },
  });
  await child(
    String(values.child),
    Number(values.ring),
    Number(values.count),
    Number(values.warm ?? 0),
  );
}
