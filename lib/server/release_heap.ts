/**
 * Giving back the memory a config load used. Loading 10,000 users allocates several times what
 * they occupy once loaded (file texts, parse trees); V8 grows its heap for that garbage and keeps
 * it. A full collection right after the load, when the garbage is all dead, lets V8 shrink the
 * heap again: without it, 10 reloads of 10,000 users took the daemon's RSS from 150 to 270 MB.
 *
 * `globalThis.gc` exists only when V8 runs with `--expose-gc`, which the daemon's run flags
 * (`SERVER_V8_FLAGS` in `lib/permissions.ts`) set; elsewhere (tests running a daemon in their own
 * process) this does nothing.
 *
 * @module
 */

import { loadLibc } from "../../ffi/libc.ts";

/**
 * How hard to collect: `"major"` is one full collection (tens of milliseconds for 10,000 users);
 * `"shrink"` repeats it until nothing more is freed and lets V8 return every free page (V8's
 * last-resort collection: about 100 ms for 10,000 users, but 20 MB less resident than one full
 * collection), for when no knock can be waiting, e.g. before the captures open.
 */
export type Release = "major" | "shrink";

/**
 * Runs a full garbage collection when V8 allows it; returns how long it took in milliseconds,
 * or `undefined` when it could not run (no `--expose-gc`).
 *
 * @example
 * ```ts
 * import { releaseHeap } from "./release_heap.ts";
 * const ms = releaseHeap("major");
 * if (ms !== undefined && ms < 0) throw new Error();
 * ```
 */
export function releaseHeap(how: Release): number | undefined {
  const gc = (globalThis as { gc?: (options?: GcOptions) => void }).gc;
  if (typeof gc !== "function") return undefined;
  const start = performance.now();
  gc({
    type: "major",
    execution: "sync",
    ...(how === "shrink" ? { flavor: "last-resort" } : {}),
  });
  if (how === "shrink") trimMalloc();
  return performance.now() - start;
}

/**
 * Gives glibc's free heap memory back to the system (what the load's file reads and native
 * buffers left: 2 to 3 MiB of RSS for 10,000 users); nothing when libc cannot be loaded.
 */
function trimMalloc(): void {
  try {
    loadLibc().malloc_trim?.(0n);
  } catch {
    // Not glibc, or no --allow-ffi for it: the memory stays with malloc, as before.
  }
}

/** The options V8's `gc()` takes (its gc extension). */
interface GcOptions {
  type: "major" | "minor";
  execution: "sync" | "async";
  flavor?: "regular" | "last-resort";
}

/**
 * While knocks keep coming after a reload, a full collection runs anyway once V8's heap has grown
 * past twice its size after the last collection, plus this (a reload of 10,000 unchanged users
 * grows it by a few MB, back-to-back reloads of 100,000 users by hundreds): memory before latency.
 */
export const HEAP_SLACK_BYTES = 16 * 1024 * 1024;

/**
 * The collection after a reload, at a quiet moment: the first 1-second tick during which no packet
 * was checked runs the thorough one (~35 ms for 10,000 users, ~100 ms on a busy machine), which
 * returns the free pages to the system. While packets keep coming it waits (V8's own collections,
 * incremental and mostly concurrent, keep the heap bounded meanwhile): a forced collection stops
 * the main thread, and a knock arriving then waits for it. Only a heap grown past twice its settled
 * size plus {@linkcode HEAP_SLACK_BYTES} is collected at once (a full collection, not the thorough
 * one), so that back-to-back reloads of 100,000 users do not pile up garbage.
 *
 * @example
 * ```ts
 * import { QuietShrink } from "./release_heap.ts";
 * const runs: string[] = [];
 * let heap = 20e6;
 * const shrink = new QuietShrink((how) => void runs.push(how), () => heap);
 * shrink.tick(5); // the heap's settled size: 20 MB
 * heap = 30e6;
 * shrink.request(); // a reload just ended, the heap grew a little: nothing yet
 * shrink.tick(9); // packets were checked since the last tick: not yet
 * shrink.tick(9); // quiet
 * heap = 80e6;
 * shrink.request(); // a reload that grew the heap past twice its size
 * shrink.tick(12); // knocks are coming, but memory first
 * if (runs.join() !== "shrink,major") throw new Error(runs.join());
 * ```
 */
export class QuietShrink {
  readonly #release: (how: Release) => unknown;
  readonly #heapBytes: () => number;
  /** A load ended since the last thorough collection. */
  #pending = false;
  #checked = -1;
  /** The heap's size after the last collection (or at the first tick). */
  #settled: number | undefined;

  /**
   * `release` runs a collection (default {@linkcode releaseHeap}); `heapBytes` tells the size of
   * V8's heap (default: `Deno.memoryUsage().heapTotal`).
   */
  constructor(
    release: (how: Release) => unknown = releaseHeap,
    heapBytes: () => number = () => Deno.memoryUsage().heapTotal,
  ) {
    this.#release = release;
    this.#heapBytes = heapBytes;
  }

  /** A load just ended: its garbage is dead. Nothing runs now (knocks may be in flight). */
  request(): void {
    this.#pending = true;
  }

  /** Each tick, with how many packets have been checked so far. */
  tick(checked: number): void {
    const quiet = checked === this.#checked;
    this.#checked = checked;
    this.#settled ??= this.#heapBytes();
    if (!this.#pending) return;
    if (quiet) {
      this.#pending = false;
      this.#release("shrink");
    } else if (this.#heapBytes() > 2 * this.#settled + HEAP_SLACK_BYTES) {
      this.#release("major");
    } else {
      return;
    }
    this.#settled = this.#heapBytes();
  }
}
