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

/** A QuietShrink driven by hand: `poll()` stands for QUIET_MS passing. */
function manual(heap: () => number, release: (how: string) => void = () => {}) {
  const state = { checked: 0, armed: false };
  const shrink = new QuietShrink({
    release,
    heapBytes: heap,
    checked: () => state.checked,
    every: () => {
      state.armed = true;
      return () => (state.armed = false);
    },
  });
  return { shrink, state };
}

Deno.test("QuietShrink: the thorough collection waits for a quiet moment, however long knocks keep coming", () => {
  const runs: string[] = [];
  const { shrink, state } = manual(() => 20e6, (how) => void runs.push(how));
  shrink.settle();
  equal(state.armed, false); // no timer while nothing is pending: an idle daemon stays idle
  shrink.request();
  deepEqual(runs, []); // no pause as the reload ends: a knock may be in flight
  equal(state.armed, true);
  for (let n = 1; n <= 120; n++) {
    state.checked = n;
    shrink.poll();
  }
  deepEqual(runs, []); // knocks kept coming for a minute: no forced collection
  shrink.poll();
  deepEqual(runs, ["shrink"]); // the first quiet moment
  equal(state.armed, false);
  shrink.poll();
  equal(runs.length, 1); // once per load
  shrink.request();
  shrink.poll(); // no packet since the request
  deepEqual(runs, ["shrink", "shrink"]);
});

Deno.test("QuietShrink: a heap grown past twice its size is collected while knocks come, only then", () => {
  const runs: string[] = [];
  let heap = 30e6;
  const { shrink, state } = manual(() => heap, (how) => {
    runs.push(how);
    heap = 30e6; // what the collection frees
  });
  shrink.settle(); // settled at 30 MB
  heap = 30e6 * 2 + HEAP_SLACK_BYTES - 1;
  shrink.request();
  state.checked++;
  shrink.poll();
  deepEqual(runs, []); // just under the bound, and knocks are coming
  heap = 30e6 * 2 + HEAP_SLACK_BYTES + 1;
  shrink.request();
  deepEqual(runs, []); // never as the reload ends
  state.checked++;
  shrink.poll();
  deepEqual(runs, ["major"]); // back-to-back big reloads do not pile up garbage
  equal(heap, 30e6);
  state.checked++;
  shrink.poll();
  deepEqual(runs, ["major"]); // under the bound again: the thorough one waits for quiet
  shrink.poll();
  deepEqual(runs, ["major", "shrink"]);
});

Deno.test("QuietShrink: stop drops the pending collection and its timer", async () => {
  const runs: string[] = [];
  const shrink = new QuietShrink({ release: (how) => void runs.push(how), heapBytes: () => 1 });
  shrink.request(); // the real interval (the test's sanitizer sees it if it leaks)
  shrink.stop();
  await new Promise((resolve) => setTimeout(resolve, 50));
  shrink.poll();
  deepEqual(runs, []);
});
