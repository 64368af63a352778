import { deepEqual, ok } from "node:assert/strict";
import {
  budgeted,
  BUSY_BUDGET_MS,
  BUSY_WAIT_MS,
  pauser,
  runStepsSliced,
} from "../../lib/config/_pause.ts";

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

/** Runs a load of `yields` slices of 2 ms against busy work that never ends; its wall time. */
async function loadAgainstHungWork(yields: number, budget = false): Promise<number> {
  const hung = new Promise<void>(() => {}); // an nft call that hangs, or knocks that never stop
  const start = performance.now();
  const out = await runStepsSliced(
    (function* () {
      for (let i = 0; i < yields; i++) {
        spin(2);
        yield;
      }
      return "done";
    })(),
    1,
    budget ? budgeted(() => hung) : () => hung,
  );
  deepEqual(out, "done");
  return performance.now() - start;
}

Deno.test("pauser: work in flight that never ends holds a slice back at most BUSY_WAIT_MS", async () => {
  const ms = await loadAgainstHungWork(3);
  ok(ms >= 2 * BUSY_WAIT_MS && ms < 10 * BUSY_WAIT_MS, `${ms} ms`);
});

Deno.test("pauser: budgeted busy work never holds one load back more than BUSY_BUDGET_MS in all", async () => {
  // Unbounded, 40 yields would wait 40 × BUSY_WAIT_MS.
  const ms = await loadAgainstHungWork(40, true);
  ok(ms >= BUSY_BUDGET_MS && ms < BUSY_BUDGET_MS + 4 * BUSY_WAIT_MS, `${ms} ms`);
});
