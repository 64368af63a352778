/**
 * Gives back the resident pages of the program file that start-up touched and the daemon does not
 * use again: the Deno runtime's code and read-only data (module loading, TypeScript, the V8 start-up
 * snapshot, ...) stay mapped after start, 38-44 MB of the daemon's RSS, most of them never read
 * again.
 *
 * @module
 */

import {
  AT_PAGESZ,
  AT_PHDR,
  AT_PHNUM,
  loadMemorySymbols,
  MADV_DONTNEED,
  type MemorySymbols,
  systemError,
} from "./libc.ts";

/** One address range, in bytes. */
export interface PageRange {
  start: bigint;
  length: bigint;
}

/** `Elf64_Phdr`'s size and the fields read from it. */
const PHDR_BYTES = 56;
const PT_LOAD = 1;
const PT_PHDR = 6;
const PF_W = 2;

/**
 * The whole pages of the program's read-only loadable segments (code and read-only data), from its
 * ELF program headers (`Elf64_Phdr`, little-endian) as mapped at `phdrAddress`. A writable
 * segment is never included (its pages may hold relocated or written data that exists nowhere
 * else), nor a page it shares with one: ranges are rounded inwards to whole pages. Without a
 * `PT_PHDR` header the load address is unknown and the answer is empty.
 *
 * @example
 * ```ts
 * import { readOnlySegments } from "./program_pages.ts";
 * const headers = new Uint8Array(2 * 56);
 * const view = new DataView(headers.buffer);
 * view.setUint32(0, 6, true); // PT_PHDR at 0x40
 * view.setBigUint64(16, 0x40n, true);
 * view.setUint32(56, 1, true); // PT_LOAD, read + execute, 0x0 to 0x5000
 * view.setUint32(60, 5, true);
 * view.setBigUint64(56 + 32, 0x5000n, true); // p_filesz
 * view.setBigUint64(56 + 40, 0x5000n, true); // p_memsz
 * const ranges = readOnlySegments(headers, 0x10040n, 4096n);
 * if (ranges[0]?.start !== 0x10000n || ranges[0].length !== 0x5000n) throw new Error("unexpected");
 * ```
 */
export function readOnlySegments(
  headers: Uint8Array,
  phdrAddress: bigint,
  pageSize: bigint,
): PageRange[] {
  const view = new DataView(headers.buffer, headers.byteOffset, headers.byteLength);
  const count = Math.floor(headers.byteLength / PHDR_BYTES);
  let bias: bigint | undefined;
  const segments: { flags: number; start: bigint; end: bigint }[] = [];
  for (let i = 0; i < count; i++) {
    const at = i * PHDR_BYTES;
    const type = view.getUint32(at, true);
    const vaddr = view.getBigUint64(at + 16, true);
    if (type === PT_PHDR) bias = phdrAddress - vaddr;
    if (type === PT_LOAD) {
      const flags = view.getUint32(at + 4, true);
      segments.push({
        flags,
        start: vaddr,
        // A read-only segment's extent is what the file holds (p_filesz; p_memsz is the same for
        // Deno's); a writable one's includes its zero-filled rest (p_memsz), which must stay.
        end: vaddr + view.getBigUint64(at + ((flags & PF_W) !== 0 ? 40 : 32), true),
      });
    }
  }
  if (bias === undefined) return [];
  const writable = segments.filter((s) => (s.flags & PF_W) !== 0);
  const ranges: PageRange[] = [];
  for (const segment of segments) {
    if ((segment.flags & PF_W) !== 0) continue;
    let start = ((bias + segment.start + pageSize - 1n) / pageSize) * pageSize;
    let end = ((bias + segment.end) / pageSize) * pageSize;
    // A page shared with a writable segment stays (segments may touch inside one page).
    for (const w of writable) {
      const wStart = ((bias + w.start) / pageSize) * pageSize;
      const wEnd = ((bias + w.end + pageSize - 1n) / pageSize) * pageSize;
      if (wStart < end && wEnd > start) {
        if (wStart <= start) start = wEnd;
        else end = wStart;
      }
    }
    if (end > start) ranges.push({ start, length: end - start });
  }
  return ranges;
}

/** This process's {@linkcode readOnlySegments}: found once, the program's headers never change. */
let programRanges: PageRange[] | undefined;

function ownReadOnlySegments(c: MemorySymbols): PageRange[] {
  const phdr = c.getauxval(AT_PHDR) as bigint;
  const count = Number(c.getauxval(AT_PHNUM));
  const pageSize = c.getauxval(AT_PAGESZ) as bigint;
  if (phdr === 0n || count === 0 || pageSize === 0n) return [];
  const headers = new Uint8Array(count * PHDR_BYTES);
  c.memcpy(headers, phdr, BigInt(headers.length));
  return readOnlySegments(headers, phdr, pageSize);
}

/**
 * Drops this process's resident pages of the program file's read-only segments
 * (`madvise(MADV_DONTNEED)`): they leave its RSS and stay in the page cache (clean, shared with
 * every other process running the same binary), whence the next use maps them again (a minor
 * fault, or a read from disk if memory pressure evicted them meanwhile). Safe for pages that were
 * never written, which is all {@linkcode readOnlySegments} returns: a clean private file page is
 * the page cache's page, which the kernel may drop at any time anyway; only a page copied on write
 * (relocations, a debugger's breakpoint) would lose its content, and the read-only segments of a
 * position-independent binary without text relocations, like Deno's, have none. Returns the bytes
 * advised.
 *
 * @throws {SystemError} When `madvise` refuses a range.
 * @example
 * ```ts
 * import { releaseProgramPages } from "./program_pages.ts";
 * if (releaseProgramPages() === 0) throw new Error("the program has read-only segments");
 * ```
 */
export function releaseProgramPages(): number {
  const c = loadMemorySymbols();
  let advised = 0n;
  for (const range of programRanges ??= ownReadOnlySegments(c)) {
    if (c.madvise(range.start, range.length, MADV_DONTNEED) !== 0) {
      throw systemError("release the program's pages");
    }
    advised += range.length;
  }
  return Number(advised);
}
