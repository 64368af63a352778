/** Reading the pcap files tcpdump writes in namespace tests (the attacker's recordings). */

import { decodeFrame } from "../lib/packet/decode.ts";
import { PacketView } from "../lib/packet/view.ts";

const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** One captured packet that could carry a trailer. */
export interface CapturedTrailer {
  /** 6 or 17. */
  protocol: number;
  /** The last 37 bytes of the payload, as hex. */
  tail: string;
}

/** The candidate trailers (last 37 payload bytes) of every TCP or UDP packet in a pcap file. */
export async function capturedTrailers(path: string): Promise<CapturedTrailer[]> {
  const data = await Deno.readFile(path);
  if (data.length < 24) return [];
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = dv.getUint32(0, true) === 0xa1b2c3d4;
  const linkType = dv.getUint32(20, little);
  const view = new PacketView();
  const out: CapturedTrailer[] = [];
  for (let o = 24; o + 16 <= data.length;) {
    const caplen = dv.getUint32(o + 8, little);
    const frame = data.subarray(o + 16, o + 16 + caplen);
    o += 16 + caplen;
    if (decodeFrame(linkType, frame, frame.length, view) !== "ok" || view.payloadLength < 37) {
      continue;
    }
    if (view.protocol !== 6 && view.protocol !== 17) continue;
    const end = view.payloadOffset + view.payloadLength;
    out.push({ protocol: view.protocol, tail: hex(frame.subarray(end - 37, end)) });
  }
  return out;
}

/** A tcpdump recording in a host, from {@linkcode startSniffer}. */
export interface Sniffer {
  /** The pcap file being written. */
  readonly path: string;
  /** Stops tcpdump (SIGINT, so it flushes) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts `tcpdump -i eth0 -U --immediate-mode -w path filter` in a host of a topology (the
 * attacker recording what crosses the hub) and resolves once it is listening.
 */
export async function startSniffer(
  topo: {
    spawn(
      host: string,
      argv: readonly string[],
      options: { stdout: "null"; stderr: "piped" },
    ): Deno.ChildProcess;
  },
  host: string,
  path: string,
  filter: string,
): Promise<Sniffer> {
  const child = topo.spawn(host, [
    "tcpdump",
    "-i",
    "eth0",
    "-U",
    "--immediate-mode",
    "-w",
    path,
    filter,
  ], {
    stdout: "null",
    stderr: "piped",
  });
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 5_000;
  while (!seen.includes("listening on") && Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    seen += value;
  }
  if (!seen.includes("listening on")) {
    child.kill("SIGKILL");
    throw new Error(`Cannot start tcpdump in ${host}: ${seen.trim()}`);
  }
  // Keep draining stderr so tcpdump never blocks on a full pipe.
  const drained = (async () => {
    while (!(await lines.read()).done) { /* discard */ }
  })();
  return {
    path,
    async stop() {
      child.kill("SIGINT");
      await child.status;
      await drained;
    },
  };
}
