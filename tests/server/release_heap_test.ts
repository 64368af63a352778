import { deepEqual, equal, ok } from "node:assert/strict";
import { MODULE_FLAGS, SERVER_V8_FLAGS } from "../../lib/permissions.ts";
import {
  HEAP_SLACK_BYTES,
  QuietShrink,
  releaseHeap,
  SHRINK_WAIT_MS,
} from "../../lib/server/release_heap.ts";

const MODULE = new URL("../../lib/server/release_heap.ts", import.meta.url).href;

Deno.test("releaseHeap: nothing without --expose-gc (a daemon inside a test process)", () => {
  equal(releaseHeap("major"), undefined);
});

Deno.test("releaseHeap: the daemon's V8 flags let it run a full collection", async () => {
  const script = `import { releaseHeap } from ${JSON.stringify(MODULE)};\n` +
    `console.log(JSON.stringify([releaseHeap("major"), releaseHeap("shrink")]));\n`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...MODULE_FLAGS, `--v8-flags=${SERVER_V8_FLAGS.join(",")}`, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const ms = JSON.parse(new TextDecoder().decode(out.stdout)) as unknown[];
  ok(ms.every((x) => typeof x === "number" && x >= 0), `expected durations, got ${ms}`);
});

Deno.test("QuietShrink: the thorough collection waits for a tick with no packet, 10 s at most", () => {
  const runs: string[] = [];
  const shrink = new QuietShrink((how) => void runs.push(how), () => 20e6);
  shrink.request(500); // a load before any tick (the heap's size is not known yet): at once
  deepEqual(runs, ["major"]);
  shrink.tick(0, 600);
  shrink.tick(0, 1_000); // quiet
  deepEqual(runs, ["major", "shrink"]);
  runs.length = 0;
  shrink.tick(0, 1_200);
  deepEqual(runs, []); // nothing to do without a load
  shrink.request(1_500);
  deepEqual(runs, []); // the heap did not grow: no pause as the reload ends
  for (let t = 2_000, n = 1; t < 1_500 + SHRINK_WAIT_MS; t += 1_000, n++) shrink.tick(n, t);
  deepEqual(runs, []); // knocks kept coming
  shrink.tick(100, 1_500 + SHRINK_WAIT_MS);
  deepEqual(runs, ["shrink"]); // the wait is over
  shrink.request(20_000);
  shrink.tick(100, 20_500); // no packet since the last tick
  deepEqual(runs, ["shrink", "shrink"]);
  shrink.tick(100, 21_000);
  equal(runs.length, 2); // once per load
});

Deno.test("QuietShrink: a reload that grew the heap past twice its size collects at once", () => {
  const runs: string[] = [];
  let heap = 30e6;
  const shrink = new QuietShrink((how) => {
    runs.push(how);
    heap = 30e6; // what the collection frees
  }, () => heap);
  shrink.tick(0, 0); // settled at 30 MB
  heap = 30e6 * 2 + HEAP_SLACK_BYTES - 1;
  shrink.request(100);
  deepEqual(runs, []); // just under the bound
  heap = 30e6 * 2 + HEAP_SLACK_BYTES + 1;
  shrink.request(200);
  deepEqual(runs, ["major"]); // back-to-back big reloads do not pile up garbage
  equal(heap, 30e6);
});
