/**
 * Long synchronous loops (reading thousands of user and key files) that still let the event loop
 * run: call the returned function often; it yields once `sliceMs` of work has passed.
 *
 * @module
 */

/** Work slice between two yields while loading users: a knock waits at most about this long. */
export const LOAD_SLICE_MS = 5;

/**
 * Work that goes before a long load (a daemon's knocks in flight): called at each yield, it
 * returns a promise that resolves when that work is done. A knock needs several turns of the event
 * loop (its state write, fsync, nft, reply); between slices it gets one each, so with a load
 * running it waited a slice at each step (+30 to +80 ms for 10,000 users). The load waits for it
 * instead, at most {@linkcode BUSY_WAIT_MS} per yield (a hung nft call must not stall the load).
 */
export type Busy = () => Promise<unknown>;

/** The longest a load waits at one yield for {@linkcode Busy} work to finish. */
export const BUSY_WAIT_MS = 250;

/**
 * The longest one reload waits for {@linkcode Busy} work in all, across every pause of its load
 * (see {@linkcode budgeted}): a steady stream of knocks (or replayed retransmissions) cannot
 * stretch a reload, and so delay the revocation it carries, by more than this.
 */
export const BUSY_BUDGET_MS = 2_000;

/**
 * `busy` with a budget shared by every pause it is given to: once `budgetMs` of waiting for it is
 * spent, it resolves at once. A daemon makes one per reload.
 *
 * @example
 * ```ts
 * import { budgeted } from "./_pause.ts";
 * const busy = budgeted(() => new Promise(() => {}), 20); // work that never ends
 * await busy(); // waits 20 ms
 * const start = performance.now();
 * await busy(); // the budget is spent
 * if (performance.now() - start > 10) throw new Error("waited again");
 * ```
 */
export function budgeted(busy: Busy, budgetMs: number = BUSY_BUDGET_MS): Busy {
  let left = budgetMs;
  return async () => {
    if (left <= 0) return;
    const start = performance.now();
    await waitFor(busy, left);
    left -= performance.now() - start;
  };
}

/** Waits until `busy()` resolves, at most `limitMs`. */
async function waitFor(busy: Busy, limitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    busy(),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, limitMs))),
  ]);
  clearTimeout(timer);
}

/**
 * A pause function: resolves at once (synchronously, `undefined`) until `sliceMs` has passed since
 * the last yield, then returns a promise that resolves after one turn of the event loop (a timer:
 * about 2 ms idle, but `setImmediate`, about 40 µs, let knocks wait several slices: their median
 * delay during reloads of 10,000 users went from +2..5 ms to +28..54 ms), and after the `busy`
 * work, if any, is done.
 *
 * @example
 * ```ts
 * import { pauser } from "./_pause.ts";
 * const pause = pauser(10);
 * for (let i = 0; i < 1000; i++) await pause();
 * ```
 */
export function pauser(
  sliceMs: number = LOAD_SLICE_MS,
  busy?: Busy,
): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    if (performance.now() - last < sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      setTimeout(async () => {
        if (busy !== undefined) await waitFor(busy, BUSY_WAIT_MS);
        last = performance.now();
        resolve();
      }, 0)
    );
  };
}

/**
 * Runs work written as a generator (it yields where a pause may come) to its end, at once.
 *
 * @example
 * ```ts
 * import { runSteps } from "./_pause.ts";
 * function* count(): Generator<void, number, void> {
 *   let n = 0;
 *   for (; n < 3; n++) yield;
 *   return n;
 * }
 * if (runSteps(count()) !== 3) throw new Error();
 * ```
 */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  let next = steps.next();
  while (!next.done) next = steps.next();
  return next.value;
}

/**
 * Runs work written as a generator to its end, yielding to the event loop once `sliceMs` of it has
 * passed (at its `yield`s), like {@linkcode pauser} (also waiting for `busy` work).
 *
 * @example
 * ```ts
 * import { runStepsSliced } from "./_pause.ts";
 * function* count(): Generator<void, number, void> {
 *   let n = 0;
 *   for (; n < 1000; n++) yield;
 *   return n;
 * }
 * if (await runStepsSliced(count(), 1) !== 1000) throw new Error();
 * ```
 */
export async function runStepsSliced<T>(
  steps: Generator<void, T, void>,
  sliceMs: number = LOAD_SLICE_MS,
  busy?: Busy,
): Promise<T> {
  const pause = pauser(sliceMs, busy);
  let next = steps.next();
  while (!next.done) {
    await pause();
    next = steps.next();
  }
  return next.value;
}
