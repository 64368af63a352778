/**
 * The program file's read-only pages given back (`ffi/program_pages.ts`) and glibc's arena cap
 * (`limitMallocArenas`). No root needed.
 */

import { deepStrictEqual as assertEquals, equal, ok as assert } from "node:assert/strict";
import { readOnlySegments, releaseProgramPages } from "../../ffi/program_pages.ts";
import { limitMallocArenas } from "../../ffi/libc.ts";
import { LIBC_CANDIDATES } from "../../ffi/library_paths.ts";
import { MODULE_FLAGS } from "../../lib/permissions.ts";

const PAGE = 4096n;

/** Program headers: `[type, flags, vaddr, size]` each (p_filesz = p_memsz = size). */
function headers(entries: [number, number, bigint, bigint][]): Uint8Array {
  const bytes = new Uint8Array(entries.length * 56);
  const view = new DataView(bytes.buffer);
  entries.forEach(([type, flags, vaddr, memsz], i) => {
    view.setUint32(i * 56, type, true);
    view.setUint32(i * 56 + 4, flags, true);
    view.setBigUint64(i * 56 + 16, vaddr, true);
    view.setBigUint64(i * 56 + 32, memsz, true);
    view.setBigUint64(i * 56 + 40, memsz, true);
  });
  return bytes;
}

const PT_LOAD = 1;
const PT_PHDR = 6;
const R = 4;
const RX = 5;
const RW = 6;

Deno.test("readOnlySegments: read-only segments at the load address, writable ones never", () => {
  const phdrs = headers([
    [PT_PHDR, R, 0x40n, 0x1c0n],
    [PT_LOAD, R, 0n, 0x2100n], // rodata: its last, partial page is left out
    [PT_LOAD, RX, 0x3000n, 0x4000n], // code
    [PT_LOAD, RW, 0x7000n, 0x1000n], // data
  ]);
  const base = 0x5500_0000_0000n;
  assertEquals(readOnlySegments(phdrs, base + 0x40n, PAGE), [
    { start: base, length: 0x2000n },
    { start: base + 0x3000n, length: 0x4000n },
  ]);
});

Deno.test("readOnlySegments: a page a writable segment shares is left out", () => {
  const phdrs = headers([
    [PT_PHDR, R, 0x40n, 0x1c0n],
    [PT_LOAD, RX, 0n, 0x5000n],
    [PT_LOAD, RW, 0x4800n, 0x1000n], // starts inside the code's last page
  ]);
  assertEquals(readOnlySegments(phdrs, 0x10040n, PAGE), [{ start: 0x10000n, length: 0x4000n }]);
});

Deno.test("readOnlySegments: without PT_PHDR the load address is unknown, so nothing", () => {
  assertEquals(readOnlySegments(headers([[PT_LOAD, RX, 0n, 0x5000n]]), 0x10040n, PAGE), []);
});

function residentFileKiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/^RssFile:\s+(\d+) kB/m.exec(status)?.[1]);
}

Deno.test("releaseProgramPages: the Deno binary's resident pages leave, and the program runs on", () => {
  const before = residentFileKiB();
  const advised = releaseProgramPages();
  const after = residentFileKiB();
  assert(advised > 10 * 1024 * 1024, `advised only ${advised} bytes`);
  // The pages this very code needs come back at once; most of the rest stay out.
  assert(after < before - 5 * 1024, `RssFile ${before} kB -> ${after} kB`);
  // Code, read-only data and the runtime work as before (pages come back from the file).
  equal(JSON.stringify({ sum: [1, 2, 3].reduce((a, b) => a + b) }), '{"sum":6}');
  equal(new TextDecoder().decode(new TextEncoder().encode("ünïcode")), "ünïcode");
});

Deno.test("releaseProgramPages and limitMallocArenas work under the daemon's scoped --allow-ffi", async () => {
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { releaseProgramPages } from ${
        JSON.stringify(import.meta.resolve("../../ffi/program_pages.ts"))
      };
      import { limitMallocArenas } from ${JSON.stringify(import.meta.resolve("../../ffi/libc.ts"))};
      const arenas = limitMallocArenas(1);
      const advised = releaseProgramPages();
      const again = releaseProgramPages();
      console.log(JSON.stringify({ arenas, advised: advised > 0, again: again === advised }));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...MODULE_FLAGS,
        "--no-prompt",
        `--allow-ffi=${LIBC_CANDIDATES.join(",")}`,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert(out.success, stderr);
    assertEquals(JSON.parse(new TextDecoder().decode(out.stdout)), {
      arenas: true,
      advised: true,
      again: true,
    });
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("limitMallocArenas: glibc takes M_ARENA_MAX", () => {
  assert(limitMallocArenas(64));
});
