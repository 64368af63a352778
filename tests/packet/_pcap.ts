/**
 * A tiny reader and writer of classic pcap files (a 24-byte global header, then a 16-byte header
 * per record), for tests only; the product reads captures through libpcap.
 *
 * @module
 */

/** One captured record. */
export interface PcapRecord {
  /** The captured bytes. */
  data: Uint8Array;
  /** The length of the packet on the wire (at least `data.length`). */
  originalLength: number;
}

/** A whole pcap file. */
export interface PcapFile {
  /** The file's link type (LINKTYPE_*; the FCS bits are masked off). */
  linkType: number;
  records: PcapRecord[];
}

const MAGIC_MICROSECONDS = 0xa1b2c3d4;
const MAGIC_NANOSECONDS = 0xa1b23c4d;
const GLOBAL_HEADER_LENGTH = 24;
const RECORD_HEADER_LENGTH = 16;

/** Parses a pcap file in either byte order; throws on anything malformed. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < GLOBAL_HEADER_LENGTH) throw new Error("Cannot parse pcap: file too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  let little: boolean;
  if (magic === MAGIC_MICROSECONDS || magic === MAGIC_NANOSECONDS) little = true;
  else if (view.getUint32(0, false) === MAGIC_MICROSECONDS) little = false;
  else if (view.getUint32(0, false) === MAGIC_NANOSECONDS) little = false;
  else throw new Error(`Cannot parse pcap: bad magic 0x${magic.toString(16)}`);
  const linkType = view.getUint32(20, little) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let offset = GLOBAL_HEADER_LENGTH;
  while (offset < bytes.length) {
    if (offset + RECORD_HEADER_LENGTH > bytes.length) {
      throw new Error(`Cannot parse pcap: record header cut at ${offset}`);
    }
    const captured = view.getUint32(offset + 8, little);
    const originalLength = view.getUint32(offset + 12, little);
    const start = offset + RECORD_HEADER_LENGTH;
    if (start + captured > bytes.length) {
      throw new Error(`Cannot parse pcap: record cut at ${start}`);
    }
    records.push({ data: bytes.slice(start, start + captured), originalLength });
    offset = start + captured;
  }
  return { linkType, records };
}

/** Reads and parses a pcap file. */
export async function readPcap(path: string | URL): Promise<PcapFile> {
  return parsePcap(await Deno.readFile(path));
}

/** Serialises records as a little-endian microsecond pcap file with the given link type. */
export function writePcapBytes(linkType: number, packets: readonly Uint8Array[]): Uint8Array {
  const total = GLOBAL_HEADER_LENGTH +
    packets.reduce((sum, packet) => sum + RECORD_HEADER_LENGTH + packet.length, 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC_MICROSECONDS, true);
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, 262144, true);
  view.setUint32(20, linkType, true);
  let offset = GLOBAL_HEADER_LENGTH;
  for (const [i, packet] of packets.entries()) {
    view.setUint32(offset, 1_700_000_000 + i, true);
    view.setUint32(offset + 8, packet.length, true);
    view.setUint32(offset + 12, packet.length, true);
    out.set(packet, offset + RECORD_HEADER_LENGTH);
    offset += RECORD_HEADER_LENGTH + packet.length;
  }
  return out;
}
