import { deepEqual, equal, ok } from "node:assert/strict";
import { MODULE_FLAGS, SERVER_V8_FLAGS } from "../../lib/permissions.ts";
import { HEAP_SLACK_BYTES, QuietShrink, releaseHeap } from "../../lib/server/release_heap.ts";

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

Deno.test("QuietShrink: the thorough collection waits for a tick with no packet, however long knocks keep coming", () => {
  const runs: string[] = [];
  const shrink = new QuietShrink((how) => void runs.push(how), () => 20e6);
  shrink.request(); // a load before any tick: nothing at once either
  deepEqual(runs, []);
  shrink.tick(0);
  shrink.tick(0); // quiet
  deepEqual(runs, ["shrink"]);
  runs.length = 0;
  shrink.tick(0);
  deepEqual(runs, []); // nothing to do without a load
  shrink.request();
  deepEqual(runs, []); // no pause as the reload ends: a knock may be in flight
  for (let n = 1; n <= 60; n++) shrink.tick(n);
  deepEqual(runs, []); // knocks kept coming for a minute: no forced collection
  shrink.tick(60);
  deepEqual(runs, ["shrink"]); // the first quiet second
  shrink.request();
  shrink.tick(60); // no packet since the last tick
  deepEqual(runs, ["shrink", "shrink"]);
  shrink.tick(60);
  equal(runs.length, 2); // once per load
});

Deno.test("QuietShrink: a heap grown past twice its size is collected while knocks come, only then", () => {
  const runs: string[] = [];
  let heap = 30e6;
  const shrink = new QuietShrink((how) => {
    runs.push(how);
    heap = 30e6; // what the collection frees
  }, () => heap);
  shrink.tick(0); // settled at 30 MB
  heap = 30e6 * 2 + HEAP_SLACK_BYTES - 1;
  shrink.request();
  shrink.tick(1);
  deepEqual(runs, []); // just under the bound, and knocks are coming
  heap = 30e6 * 2 + HEAP_SLACK_BYTES + 1;
  shrink.request();
  deepEqual(runs, []); // never as the reload ends
  shrink.tick(2);
  deepEqual(runs, ["major"]); // back-to-back big reloads do not pile up garbage
  equal(heap, 30e6);
  shrink.tick(3);
  deepEqual(runs, ["major"]); // under the bound again: the thorough one waits for quiet
  shrink.tick(3);
  deepEqual(runs, ["major", "shrink"]);
});
