/**
 * Durations as written in configs and on command lines (`"500ms"`, `"2s"`, `"5m"`, `"1h"`,
 * `"1d"`, combinations such as `"1m30s"` or `"1h 30m"`, decimals such as `"1.5s"`) and the short
 * form used in logs and status (`"4m 58s"`).
 *
 * @module
 */

import type { Checked } from "./_checked.ts";

/** Milliseconds in a second. */
export const SECOND_MS = 1_000;
/** Milliseconds in a minute. */
export const MINUTE_MS = 60 * SECOND_MS;
/** Milliseconds in an hour. */
export const HOUR_MS = 60 * MINUTE_MS;
/** Milliseconds in a day. */
export const DAY_MS = 24 * HOUR_MS;

const UNIT_MS = { d: DAY_MS, h: HOUR_MS, m: MINUTE_MS, s: SECOND_MS, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const UNIT_ORDER: readonly Unit[] = ["d", "h", "m", "s", "ms"];
const COMPONENT = /(\d+(?:\.\d+)?)\s*(ms|d|h|m|s)\s*/y;
const EXAMPLES = `e.g. "500ms", "30s", "5m", "1h", "1m30s"`;

/**
 * Parses a duration to whole milliseconds.
 *
 * @param text e.g. `"500ms"`, `"2s"`, `"5m"`, `"1h"`, `"1m30s"`, `"1h 30m"`, `"1.5s"`.
 * @returns Milliseconds (rounded to a whole number).
 * @throws {SyntaxError} When `text` is not a duration.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * if (parseDuration("1m30s") !== 90_000) throw new Error();
 * if (parseDuration("500ms") !== 500) throw new Error();
 * ```
 */
export function parseDuration(text: string): number {
  const checked = checkDuration(text);
  if (checked.reason !== undefined) {
    throw new SyntaxError(`Cannot parse duration: ${checked.reason}`);
  }
  return checked.value;
}

/**
 * Like {@linkcode parseDuration} but returns the reason instead of throwing.
 *
 * @example
 * ```ts
 * import { checkDuration } from "./duration.ts";
 * if (checkDuration("30").reason === undefined) throw new Error("a unit is required");
 * ```
 */
export function checkDuration(text: string): Checked<number> {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) {
    return { reason: `${JSON.stringify(text)} has no unit (e.g. "${trimmed}s")` };
  }
  const bad = { reason: `${JSON.stringify(text)} is not a duration (${EXAMPLES})` };
  if (trimmed === "" || trimmed.length > 64) return bad;
  COMPONENT.lastIndex = 0;
  let total = 0;
  let lastRank = -1;
  while (COMPONENT.lastIndex < trimmed.length) {
    const match = COMPONENT.exec(trimmed);
    if (match === null) return bad;
    const unit = match[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastRank) {
      return {
        reason: `${
          JSON.stringify(text)
        } is not a duration: write units once, largest first (${EXAMPLES})`,
      };
    }
    lastRank = rank;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) return { reason: `${JSON.stringify(text)} is too long` };
  return { value: ms };
}

/**
 * Formats milliseconds for logs and status: `"750ms"`, `"1.5s"`, `"4m 58s"`, `"1h 5m"`,
 * `"2d 3h"`. Below ten seconds one decimal of a second is kept; above, whole seconds (rounded
 * down), and zero parts are left out. Negative values get a leading `-`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./duration.ts";
 * if (formatDuration(298_400) !== "4m 58s") throw new Error();
 * if (formatDuration(3_600_000) !== "1h") throw new Error();
 * if (formatDuration(1_500) !== "1.5s") throw new Error();
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`Cannot format duration: ${ms} is not finite`);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) {
    const tenths = Math.floor(ms / 100) / 10;
    return `${Number.isInteger(tenths) ? tenths.toFixed(0) : tenths.toFixed(1)}s`;
  }
  let rest = Math.floor(ms / 1_000) * 1_000;
  const parts: string[] = [];
  for (const unit of ["d", "h", "m", "s"] as const) {
    const count = Math.floor(rest / UNIT_MS[unit]);
    rest -= count * UNIT_MS[unit];
    if (count > 0) parts.push(`${count}${unit}`);
  }
  return parts.join(" ");
}
