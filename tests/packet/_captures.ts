/**
 * The committed real captures (made by `scripts/make_captures.ts`) and what tshark saw in them.
 *
 * @module
 */

import { decodeFrame, type DecodeStatus, PacketView } from "../../lib/packet/mod.ts";
import { readPcap } from "./_pcap.ts";

/** tshark's reading of one frame; fields beyond `status` only when it is `"ok"`. */
export interface Expected {
  frame: number;
  status: DecodeStatus;
  family?: 4 | 6;
  source?: string;
  destination?: string;
  ipLength?: number;
  protocol?: number;
  sourcePort?: number;
  destinationPort?: number;
  tcpFlags?: number;
  tcpSequence?: number;
  tcpAcknowledgment?: number;
  icmpType?: number;
  icmpCode?: number;
  /** Length of the TCP or UDP payload. */
  payloadLength?: number;
  /** Hex of the TCP or UDP payload (tshark gives none for a RST). */
  payload?: string;
}

/** One capture file with its frames and expectations. */
export interface Capture {
  file: string;
  linkType: number;
  frames: Uint8Array[];
  expected: Expected[];
}

const DIR = new URL("../testdata/captures/", import.meta.url);

/** Loads one capture and its tshark expectations. */
export async function loadCapture(file: string): Promise<Capture> {
  const pcap = await readPcap(new URL(file, DIR));
  const json = await Deno.readTextFile(new URL(file.replace(/\.pcap$/, ".json"), DIR));
  return {
    file,
    linkType: pcap.linkType,
    frames: pcap.records.map((r) => r.data),
    expected: JSON.parse(json) as Expected[],
  };
}

/** Every committed capture, in name order. */
export async function loadCaptures(): Promise<Capture[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(DIR)) {
    if (entry.name.endsWith(".pcap")) files.push(entry.name);
  }
  return await Promise.all(files.sort().map(loadCapture));
}

/** A decoded frame: the bytes, the status and a copy of the view. */
export interface Decoded {
  frame: Uint8Array;
  status: DecodeStatus;
  view: PacketView;
}

/** Decodes every frame of a capture into its own view. */
export function decodeAll(capture: Capture): Decoded[] {
  return capture.frames.map((frame) => {
    const view = new PacketView();
    return { frame, status: decodeFrame(capture.linkType, frame, frame.length, view), view };
  });
}

/** Text of bytes. */
export function ascii(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** Hex of bytes. */
export { encodeHex as hex } from "../../lib/protocol/hex.ts";

/** Bytes of hex. */
export function unhex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
