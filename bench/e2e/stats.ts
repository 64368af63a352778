/**
 * Summaries of samples and the number formats of the bench's tables.
 *
 * @module
 */

/** Min, percentiles and max of a sample. */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p90: number;
  max: number;
}

/**
 * Nearest-rank summary of `values`; `undefined` when there are none.
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * const s = summarize([3, 1, 2, 4]);
 * if (s?.p50 !== 2 || s.max !== 4) throw new Error("unexpected");
 * ```
 */
export function summarize(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
  return {
    n: sorted.length,
    min: sorted[0]!,
    p50: rank(0.5),
    p90: rank(0.9),
    max: sorted[sorted.length - 1]!,
  };
}

/**
 * Milliseconds with a precision that suits their size: `0.42`, `8.3`, `127`.
 *
 * @example
 * ```ts
 * import { ms } from "./stats.ts";
 * if (ms(8.34) !== "8.3" || ms(127.4) !== "127") throw new Error("unexpected");
 * ```
 */
export function ms(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  if (value < 1) return value.toFixed(2);
  if (value < 10) return value.toFixed(1);
  return value.toFixed(0);
}

/**
 * `min / p50 / p90 / max` in milliseconds, or `–`.
 *
 * @example
 * ```ts
 * import { spread } from "./stats.ts";
 * if (spread({ n: 1, min: 1, p50: 2, p90: 3, max: 40 }) !== "1.0 / 2.0 / 3.0 / 40") throw new Error();
 * ```
 */
export function spread(s: Summary | undefined): string {
  return s === undefined ? "–" : `${ms(s.min)} / ${ms(s.p50)} / ${ms(s.p90)} / ${ms(s.max)}`;
}

/**
 * A fraction of one core as a percentage: `0.4 %`, `12 %`.
 *
 * @example
 * ```ts
 * import { percent } from "./stats.ts";
 * if (percent(0.004) !== "0.4 %") throw new Error("unexpected");
 * ```
 */
export function percent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return "–";
  const p = fraction * 100;
  return `${p < 10 ? p.toFixed(1) : p.toFixed(0)} %`;
}

/**
 * A packet rate: `9.9k pps`, `412k pps`.
 *
 * @example
 * ```ts
 * import { pps } from "./stats.ts";
 * if (pps(412_345) !== "412k pps") throw new Error("unexpected");
 * ```
 */
export function pps(rate: number | undefined): string {
  if (rate === undefined || !Number.isFinite(rate)) return "–";
  if (rate < 1000) return `${rate.toFixed(0)} pps`;
  const k = rate / 1000;
  return `${k < 10 ? k.toFixed(1) : k.toFixed(0)}k pps`;
}

/**
 * A ratio `a / b` as `0.08×`, or `–` when either is missing or not positive.
 *
 * @example
 * ```ts
 * import { ratio } from "./stats.ts";
 * if (ratio(10, 125) !== "0.08×") throw new Error("unexpected");
 * ```
 */
export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) return "–";
  if (a <= 0 || b <= 0) return "–";
  const r = a / b;
  return `${r < 0.01 ? r.toFixed(3) : r < 10 ? r.toFixed(2) : r.toFixed(0)}×`;
}

// The harness's sleep, for the benches that already import it from here (bench/scale.ts too).
export { sleep } from "../../harness/knocker.ts";
