import { deepEqual, equal, ok } from "node:assert/strict";
import { MODULE_FLAGS, SERVER_V8_FLAGS } from "../../lib/permissions.ts";
import {
  HEAP_SLACK_BYTES,
  POLL_MS,
  ProgramPages,
  QUIET_MS,
  QuietShrink,
  releaseHeap,
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

/** A QuietShrink driven by hand: `poll()` stands for POLL_MS passing. */
function manual(heap: () => number, release: (how: string) => void = () => {}) {
  const state = { checked: 0, armed: false, now: 0 };
  const shrink = new QuietShrink({
    release,
    heapBytes: heap,
    checked: () => state.checked,
    now: () => state.now,
    every: () => {
      state.armed = true;
      return () => (state.armed = false);
    },
  });
  const poll = () => {
    state.now += POLL_MS;
    shrink.poll();
  };
  return { shrink, state, poll };
}

/** Polls until QUIET_MS without a packet have passed. */
function quiet(poll: () => void): void {
  for (let t = 0; t < QUIET_MS; t += POLL_MS) poll();
}

Deno.test("QuietShrink: the thorough collection waits for a quiet second, however long knocks keep coming", () => {
  const runs: string[] = [];
  const { shrink, state, poll } = manual(() => 20e6, (how) => void runs.push(how));
  shrink.settle();
  equal(state.armed, false); // no timer while nothing is pending: an idle daemon stays idle
  shrink.request();
  deepEqual(runs, []); // no pause as the reload ends: a knock may be in flight
  equal(state.armed, true);
  for (let n = 1; n <= 240; n++) {
    // A knock every 750 ms for three minutes: gaps shorter than QUIET_MS.
    if (n % 3 === 0) state.checked++;
    poll();
  }
  deepEqual(runs, []); // no forced collection
  state.checked++;
  poll();
  for (let t = POLL_MS; t < QUIET_MS; t += POLL_MS) poll();
  deepEqual(runs, []); // not quiet for long enough yet
  poll();
  deepEqual(runs, ["shrink"]); // the first quiet second
  equal(state.armed, false);
  poll();
  equal(runs.length, 1); // once per load
  shrink.request();
  quiet(poll); // no packet since the request
  deepEqual(runs, ["shrink", "shrink"]);
});

Deno.test("QuietShrink: a heap grown past twice its size is collected while knocks come, only then", () => {
  const runs: string[] = [];
  let heap = 30e6;
  const { shrink, state, poll } = manual(() => heap, (how) => {
    runs.push(how);
    heap = 30e6; // what the collection frees
  });
  shrink.settle(); // settled at 30 MB
  heap = 30e6 * 2 + HEAP_SLACK_BYTES - 1;
  shrink.request();
  state.checked++;
  poll();
  deepEqual(runs, []); // just under the bound, and knocks are coming
  heap = 30e6 * 2 + HEAP_SLACK_BYTES + 1;
  shrink.request();
  deepEqual(runs, []); // never as the reload ends
  state.checked++;
  poll();
  deepEqual(runs, ["major"]); // back-to-back big reloads do not pile up garbage
  equal(heap, 30e6);
  state.checked++;
  poll();
  deepEqual(runs, ["major"]); // under the bound again: the thorough one waits for quiet
  quiet(poll);
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

Deno.test("ProgramPages: the first tick gives back the start's pages, then only ticks after packets do; a refusal ends it", () => {
  let checked = 0;
  let releases = 0;
  let refuse = false;
  const pages = new ProgramPages({
    checked: () => checked,
    release: () => {
      releases++;
      if (refuse) throw new Error("EPERM");
    },
  });
  pages.tick();
  equal(releases, 1, "the first tick");
  for (let i = 0; i < 10; i++) pages.tick();
  equal(releases, 1, "idle: no release");
  checked += 3;
  pages.tick();
  pages.tick();
  equal(releases, 2, "one release per tick after packets");
  pages.release(); // before the captures open: always
  equal(releases, 3);
  pages.tick();
  equal(releases, 3, "release() counts as the last release");
  refuse = true;
  checked++;
  pages.tick(); // does not throw
  equal(releases, 4);
  checked++;
  pages.tick();
  equal(releases, 4, "after a refusal, never again");
});
