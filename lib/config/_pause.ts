/**
 * Long synchronous loops (reading thousands of user and key files) that still let the event loop
 * run: call the returned function often; it yields once `sliceMs` of work has passed.
 *
 * @module
 */

/** Work slice between two yields while loading users: a knock waits at most about this long. */
export const LOAD_SLICE_MS = 5;

/**
 * A pause function: resolves at once (synchronously, `undefined`) until `sliceMs` has passed since
 * the last yield, then returns a promise that resolves after one turn of the event loop.
 *
 * @example
 * ```ts
 * import { pauser } from "./_pause.ts";
 * const pause = pauser(10);
 * for (let i = 0; i < 1000; i++) await pause();
 * ```
 */
export function pauser(sliceMs: number = LOAD_SLICE_MS): () => Promise<void> | undefined {
  let last = performance.now();
  return () => {
    if (performance.now() - last < sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      setTimeout(() => {
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
 * passed (at its `yield`s), like {@linkcode pauser}.
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
): Promise<T> {
  const pause = pauser(sliceMs);
  let next = steps.next();
  while (!next.done) {
    await pause();
    next = steps.next();
  }
  return next.value;
}
