import { deepEqual, ok } from "node:assert/strict";
import { BUSY_BUDGET_MS, BUSY_WAIT_MS, pauser, runStepsSliced } from "../../lib/config/_pause.ts";

/** Spins the main thread for `ms` (a slice of synchronous work). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* work */ }
}

Deno.test("pauser: at a yield, work in flight (a knock) finishes before the next slice", async () => {
  const events: string[] = [];
  let knock: Promise<void> | undefined;
  const busy = () => knock ?? Promise.resolve();
  const pause = pauser(1, busy);
  // A knock needs several turns of the event loop (its write, fsync, nft, reply).
  knock = (async () => {
    for (let step = 0; step < 5; step++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      events.push(`knock ${step}`);
    }
  })().finally(() => (knock = undefined));
  for (let slice = 0; slice < 3; slice++) {
    spin(2);
    events.push(`slice ${slice}`);
    await pause();
  }
  deepEqual(events, [
    "slice 0",
    "knock 0",
    "knock 1",
    "knock 2",
    "knock 3",
    "knock 4",
    "slice 1",
    "slice 2",
  ]);
});

Deno.test("pauser: work in flight that never ends holds a slice back at most BUSY_WAIT_MS", async () => {
  const hung = new Promise<void>(() => {}); // an nft call that hangs
  const start = performance.now();
  const out = await runStepsSliced(
    (function* () {
      for (let i = 0; i < 3; i++) {
        spin(2);
        yield;
      }
      return "done";
    })(),
    1,
    () => hung,
  );
  const ms = performance.now() - start;
  deepEqual(out, "done");
  ok(ms >= 2 * BUSY_WAIT_MS && ms < 10 * BUSY_WAIT_MS, `${ms} ms`);
});

Deno.test("pauser: busy work never holds one load back more than BUSY_BUDGET_MS in all", async () => {
  const hung = new Promise<void>(() => {}); // knocks that never stop coming
  const start = performance.now();
  const out = await runStepsSliced(
    (function* () {
      for (let i = 0; i < 40; i++) { // unbounded, 40 yields would wait 40 × BUSY_WAIT_MS
        spin(2);
        yield;
      }
      return "done";
    })(),
    1,
    () => hung,
  );
  const ms = performance.now() - start;
  deepEqual(out, "done");
  ok(ms >= BUSY_BUDGET_MS && ms < BUSY_BUDGET_MS + 4 * BUSY_WAIT_MS, `${ms} ms`);
});
