/**
 * Run as a child with `--v8-flags=--trace-gc`: decodes every frame of the real captures (and a
 * few synthetic ones) round-robin, `Deno.args[0]` times in all, between the lines `probe-start`
 * and `probe-end`. V8 logs a line per garbage collection, so any line between the markers means
 * the decoder allocated per frame.
 *
 * @module
 */

import { decodeFrame, PacketView } from "../../lib/packet/mod.ts";
import { TRAILER_LENGTH } from "../../lib/protocol/constants.ts";
import { loadCaptures } from "./_captures.ts";

const total = Number(Deno.args[0] ?? 5_000_000);
const frames = (await loadCaptures()).flatMap((c) =>
  c.frames.map((frame) => ({ linkType: c.linkType, frame }))
);
const view = new PacketView();
let sink = 0;

function run(count: number): void {
  for (let i = 0; i < count; i++) {
    const { linkType, frame } = frames[i % frames.length]!;
    if (decodeFrame(linkType, frame, frame.length, view) === "ok") {
      sink += view.tailOffset(TRAILER_LENGTH);
    } else sink++;
  }
}

run(1_000_000); // warm up: compile before the window opens
console.log("probe-start");
run(total);
console.log("probe-end");
console.log(`decoded ${total} (${sink})`);
