/**
 * Giving back memory the daemon no longer uses: the heap a config load grew
 * ({@linkcode releaseHeap}, {@linkcode QuietShrink}), and the program file's pages that start-up,
 * knocks and V8's compilers touched ({@linkcode releaseStartupMemory}, {@linkcode ProgramPages}).
 *
 * The heap: loading 10,000 users allocates several times what
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

import { limitMallocArenas, loadLibc } from "../../ffi/libc.ts";
import { releaseProgramPages } from "../../ffi/program_pages.ts";

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
 * How long no packet must have come for the daemon to be quiet: knocks sent back to back (a
 * client's retries, a benchmark) come less than a second apart, even during a reload.
 */
export const QUIET_MS = 1_000;

/** How often a pending collection looks for the quiet moment. */
export const POLL_MS = 250;

/** What a {@linkcode QuietShrink} uses; every field has a default (the daemon's). */
export interface QuietShrinkDeps {
  /** Runs a collection (default {@linkcode releaseHeap}). */
  release?: (how: Release) => unknown;
  /** The size of V8's heap (default: `Deno.memoryUsage().heapTotal`). */
  heapBytes?: () => number;
  /** How many packets have been checked so far. */
  checked?: () => number;
  /** Monotonic milliseconds (default `performance.now`). */
  now?: () => number;
  /**
   * Calls `poll` every {@linkcode POLL_MS}; returns how to stop (default: an unref'd interval;
   * tests pass their own and call {@linkcode QuietShrink.poll}).
   */
  every?: (poll: () => void) => () => void;
}

/**
 * The collection after a reload, at a quiet moment: once no packet has been checked for
 * {@linkcode QUIET_MS} (looked at every {@linkcode POLL_MS}), it runs the thorough one (~35 ms for 10,000 users, ~100 ms on a
 * busy machine), which returns the free pages to the system. While packets keep coming it waits
 * (V8's own collections, incremental and mostly concurrent, keep the heap bounded meanwhile): a
 * forced collection stops the main thread, and a knock arriving then waits for it. Only a heap
 * grown past twice its settled size plus {@linkcode HEAP_SLACK_BYTES} is collected while packets
 * come (a full collection, not the thorough one), so that back-to-back reloads of 100,000 users do
 * not pile up garbage. Nothing runs between reloads (no timer: an idle daemon stays idle).
 *
 * @example
 * ```ts
 * import { QuietShrink } from "./release_heap.ts";
 * const runs: string[] = [];
 * let heap = 20e6;
 * let checked = 0;
 * let now = 0;
 * const shrink = new QuietShrink({
 *   release: (how) => void runs.push(how),
 *   heapBytes: () => heap,
 *   checked: () => checked,
 *   now: () => now,
 *   every: () => () => {},
 * });
 * shrink.settle(); // after the start's collection: 20 MB
 * heap = 30e6;
 * shrink.request(); // a reload just ended, the heap grew a little: nothing yet
 * checked = 9;
 * now = 1_000;
 * shrink.poll(); // packets were checked since the request: not yet
 * now = 1_500;
 * shrink.poll(); // none for 500 ms: not yet
 * now = 2_000;
 * shrink.poll(); // quiet for 1 s
 * heap = 80e6;
 * shrink.request(); // a reload that grew the heap past twice its size
 * checked = 12;
 * now = 2_250;
 * shrink.poll(); // knocks are coming, but memory first
 * if (runs.join() !== "shrink,major") throw new Error(runs.join());
 * ```
 */
export class QuietShrink {
  readonly #release: (how: Release) => unknown;
  readonly #heapBytes: () => number;
  readonly #checked: () => number;
  readonly #now: () => number;
  readonly #every: (poll: () => void) => () => void;
  /** Stops the polling while a collection is pending. */
  #disarm: (() => void) | undefined;
  #lastChecked = 0;
  /** When a packet was last seen checked (or the load ended). */
  #lastPacket = 0;
  /** The heap's size after the last collection. */
  #settled: number | undefined;

  constructor(deps: QuietShrinkDeps = {}) {
    this.#release = deps.release ?? releaseHeap;
    this.#heapBytes = deps.heapBytes ?? (() => Deno.memoryUsage().heapTotal);
    this.#checked = deps.checked ?? (() => 0);
    this.#now = deps.now ?? (() => performance.now());
    this.#every = deps.every ?? ((poll) => {
      const timer = setInterval(poll, POLL_MS);
      Deno.unrefTimer(timer);
      return () => clearInterval(timer);
    });
  }

  /** The heap is as small as it gets now (e.g. after the start's collection): its settled size. */
  settle(): void {
    this.#settled = this.#heapBytes();
  }

  /** A load just ended: its garbage is dead. Nothing runs now (knocks may be in flight). */
  request(): void {
    this.#settled ??= this.#heapBytes();
    this.#lastChecked = this.#checked();
    this.#lastPacket = this.#now();
    this.#disarm ??= this.#every(() => this.poll());
  }

  /** Every {@linkcode POLL_MS} while a collection is pending. */
  poll(): void {
    if (this.#disarm === undefined) return;
    const checked = this.#checked();
    const now = this.#now();
    if (checked !== this.#lastChecked) this.#lastPacket = now;
    this.#lastChecked = checked;
    if (now - this.#lastPacket >= QUIET_MS) {
      this.stop();
      this.#release("shrink");
    } else if (this.#heapBytes() > 2 * this.#settled! + HEAP_SLACK_BYTES) {
      this.#release("major");
    } else {
      return;
    }
    this.#settled = this.#heapBytes();
  }

  /** Drops a pending collection and its polling (at stop). */
  stop(): void {
    this.#disarm?.();
    this.#disarm = undefined;
  }
}

/** Runs `step`, ignoring a refusal (e.g. a system call a filter denies): only memory is at stake. */
function quietly(step: () => unknown): void {
  try {
    step();
  } catch {
    // The daemon works the same without it.
  }
}

/**
 * Gives back what start-up used and the daemon does not need again: one malloc arena for the
 * threads started from now on (`MALLOC_ARENA_MAX=1` without the unit's environment), and this
 * process's pages of the program file's read-only segments touched so far (`ffi/program_pages.ts`).
 * `spa-server run` calls it after loading its modules; the daemon then gives the program's pages
 * back itself ({@linkcode ProgramPages}). A refusal is ignored: only memory is at stake.
 */
export function releaseStartupMemory(): void {
  quietly(() => limitMallocArenas(1));
  quietly(releaseProgramPages);
}

/** What a {@linkcode ProgramPages} uses. */
export interface ProgramPagesDeps {
  /** How many packets have been checked so far. */
  checked: () => number;
  /** Gives the pages back (default: `releaseProgramPages` of `ffi/program_pages.ts`). */
  release?: () => unknown;
}

/**
 * The program file's pages while the daemon runs. Starting, each knock and V8's compilers touch
 * pages of the Deno binary that a flood's or an idle daemon's steady state never reads again; they
 * stay in its RSS until given back. The daemon gives them back before it opens its captures (their
 * rings are mapped whole at once: the start's pages must not add to that), once started, and then
 * on its once-a-second tick when packets were checked since the last time: an idle daemon does
 * nothing.
 * Measured (README, Performance, Memory): under the flooder's maximum the binary's resident pages
 * went from 28-30 MB to 10-18 MB, and a bundled daemon's peak RSS through both floods from 56.3 /
 * 56.7 to 53.6 MB.
 *
 * The pages stay in the page cache: one used again is mapped again (a minor fault; a read from disk
 * only if memory pressure evicted it meanwhile). At most one release per second whatever the
 * packet rate: zapping and mapping again 10-30 MB costs about a millisecond.
 *
 * @example
 * ```ts
 * import { ProgramPages } from "./release_heap.ts";
 * let checked = 0;
 * let releases = 0;
 * const pages = new ProgramPages({ checked: () => checked, release: () => releases++ });
 * pages.tick(); // the first tick always gives back what the start touched
 * pages.tick(); // no packet since: nothing to do
 * checked += 5;
 * pages.tick();
 * if (releases !== 2) throw new Error(`expected 2 releases, got ${releases}`);
 * ```
 */
export class ProgramPages {
  readonly #checked: () => number;
  readonly #release: () => unknown;
  #checkedAtRelease = -1;
  #refused = false;

  constructor(deps: ProgramPagesDeps) {
    this.#checked = deps.checked;
    this.#release = deps.release ?? releaseProgramPages;
  }

  /** Gives the pages back now; after a refusal (a filter, not glibc), never again. */
  release(): void {
    this.#checkedAtRelease = this.#checked();
    if (this.#refused) return;
    try {
      this.#release();
    } catch {
      this.#refused = true; // only memory is at stake: the daemon works the same without it
    }
  }

  /** The daemon's tick: gives the pages back when packets were checked since the last time. */
  tick(): void {
    if (this.#checked() !== this.#checkedAtRelease) this.release();
  }
}
