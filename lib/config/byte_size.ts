/**
 * Byte sizes as written in configs: `"32MiB"`, `"512KiB"`, `"1GiB"`, `"4096B"` (binary units
 * only, so there is no doubt whether a megabyte is 10^6 or 2^20 bytes).
 *
 * @module
 */

import type { Checked } from "./_checked.ts";

const UNITS = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 } as const;

/**
 * Parses a byte size.
 *
 * @returns The size in bytes.
 * @throws {SyntaxError} When `text` is not a size.
 * @example
 * ```ts
 * import { parseByteSize } from "./byte_size.ts";
 * if (parseByteSize("32MiB") !== 33_554_432) throw new Error();
 * ```
 */
export function parseByteSize(text: string): number {
  const checked = checkByteSize(text);
  if (checked.reason !== undefined) throw new SyntaxError(`Cannot parse size: ${checked.reason}`);
  return checked.value;
}

/**
 * Like {@linkcode parseByteSize} but returns the reason instead of throwing.
 *
 * @example
 * ```ts
 * import { checkByteSize } from "./byte_size.ts";
 * if (checkByteSize("32MB").reason === undefined) throw new Error("decimal units are refused");
 * ```
 */
export function checkByteSize(text: string): Checked<number> {
  const match = /^\s*(\d{1,15})\s*(B|KiB|MiB|GiB)\s*$/.exec(text);
  if (match === null) {
    return {
      reason: `${JSON.stringify(text)} is not a size (use B, KiB, MiB or GiB, e.g. "32MiB")`,
    };
  }
  const bytes = Number(match[1]) * UNITS[match[2] as keyof typeof UNITS];
  if (!Number.isSafeInteger(bytes)) return { reason: `${JSON.stringify(text)} is too large` };
  return { value: bytes };
}

/**
 * Formats a byte count with the largest binary unit that divides it exactly, e.g. `"32MiB"`.
 *
 * @example
 * ```ts
 * import { formatByteSize } from "./byte_size.ts";
 * if (formatByteSize(33_554_432) !== "32MiB" || formatByteSize(1000) !== "1000B") throw new Error();
 * ```
 */
export function formatByteSize(bytes: number): string {
  for (const unit of ["GiB", "MiB", "KiB"] as const) {
    if (bytes !== 0 && bytes % UNITS[unit] === 0) return `${bytes / UNITS[unit]}${unit}`;
  }
  return `${bytes}B`;
}
