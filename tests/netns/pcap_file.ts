/** Reading the pcap files tcpdump writes in namespace tests (the attacker's recordings). */

import { decodeFrame } from "../../lib/packet/decode.ts";
import { PacketView } from "../../lib/packet/view.ts";

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
