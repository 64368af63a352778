/**
 * Long synchronous loops (reading thousands of user and key files) that still let the event loop
 * run: call the returned function often; it yields once `sliceMs` of work has passed.
 *
 * @module
 */

/** Work slice between two yields while loading users: a knock waits at most about this long. */
export const LOAD_SLICE_MS = 10;

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
