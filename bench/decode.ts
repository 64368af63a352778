/**
 * Frames decoded per second on one core (`deno run --allow-read --allow-run bench/decode.ts`): the
 * daemon runs `decodeFrame()` and `tailOffset()` on every captured packet, up to ~500k packets/s,
 * so the decoder must be far faster than that and allocate nothing.
 *
 * Reports the rate for a typical 100-byte Ethernet/IPv4/UDP frame, the same datagram under Linux
 * cooked v2 (`any`), an IPv6 SYN behind a VLAN tag, and a rotation through every frame of the
 * committed real captures; then counts V8 garbage collections during 20 million decodes in a child
 * run with `--trace-gc` (`tests/packet/_gc_probe.ts`; none expected: no allocation per frame).
 */

import {
  decodeFrame,
  encodeTcpPacket,
  encodeUdpPacket,
  PacketView,
  parseAddress,
  TCP_SYN,
} from "../lib/packet/mod.ts";
import { TRAILER_LENGTH } from "../lib/protocol/constants.ts";
import { loadCaptures } from "../tests/packet/_captures.ts";
import { ethernet, type Framed, sll2 } from "../tests/packet/_frames.ts";
import { MODULE_FLAGS } from "../lib/permissions.ts";

const v4 = { source: parseAddress("10.77.0.2")!, destination: parseAddress("10.77.0.1")! };
const v6 = { source: parseAddress("fd77::2")!, destination: parseAddress("fd77::1")! };
const udp = encodeUdpPacket({
  ...v4,
  sourcePort: 40000,
  destinationPort: 62201,
  payload: new Uint8Array(58),
});
const syn = encodeTcpPacket({
  ...v6,
  sourcePort: 40000,
  destinationPort: 22,
  sequence: 1,
  flags: TCP_SYN,
  payload: new Uint8Array(TRAILER_LENGTH),
});

let sink = 0;
const view = new PacketView();

/** Decodes the frames round-robin for about `ms` milliseconds; returns frames per second. */
function rate(frames: readonly Framed[], ms: number): number {
  const count = frames.length;
  const step = (i: number) => {
    const f = frames[i % count]!;
    if (decodeFrame(f.linkType, f.frame, f.frame.length, view) === "ok") {
      sink += view.tailOffset(TRAILER_LENGTH);
    }
  };
  for (let i = 0; i < 500_000; i++) step(i); // warm up
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 100_000; i++, n++) step(n);
    elapsed = performance.now() - start;
  }
  return (n / elapsed) * 1000;
}

const captures = await loadCaptures();
const real: Framed[] = captures.flatMap((c) =>
  c.frames.map((frame) => ({ linkType: c.linkType, frame, ipOffset: 0 }))
);
const rows: [string, number][] = [
  ["Ethernet/IPv4/UDP, 100 bytes (the typical frame)", rate([ethernet(udp)], 2000)],
  ["Linux cooked v2/IPv4/UDP, 106 bytes (`any`)", rate([sll2(udp)], 1500)],
  ["Ethernet/802.1Q/IPv6/TCP SYN + 37 bytes", rate([ethernet(syn, [[0x8100, 7]])], 1500)],
  [`every frame of the real captures (${real.length}, all link types)`, rate(real, 1500)],
];

console.log(`\nspa frame decoding, one core (Deno ${Deno.version.deno})\n`);
console.log("| frames | decoded/s | ns/frame | headroom over 500k/s |");
console.log("|---|---:|---:|---:|");
for (const [name, perSecond] of rows) {
  console.log(
    `| ${name} | ${Math.round(perSecond).toLocaleString("en-US")} | ${
      (1e9 / perSecond).toFixed(1)
    } | ${(perSecond / 500_000).toFixed(0)}x |`,
  );
}

const probe = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    ...MODULE_FLAGS,
    "--allow-read",
    "--v8-flags=--trace-gc",
    new URL("../tests/packet/_gc_probe.ts", import.meta.url).pathname,
    "20000000",
  ],
  stdout: "piped",
  stderr: "inherit",
}).output();
const lines = new TextDecoder().decode(probe.stdout).split("\n");
const between = lines.slice(lines.indexOf("probe-start") + 1, lines.indexOf("probe-end"));
const collections = between.length; // --trace-gc prints one line per collection
console.log(
  `\nV8 garbage collections during 20,000,000 decodes of the real captures: ${collections} (0 expected)`,
);
if (sink === 0) console.log("(nothing decoded?)");
