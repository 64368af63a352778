/**
 * The reader the config schemas are built from: it walks a parsed TOML table, converts and checks
 * each key, records one line per problem (key path, then reason) and reports unknown keys when the
 * table is finished. Nothing here throws on bad input.
 *
 * @module
 */

import { parse, TomlError } from "smol-toml";
import type { Checked } from "./_checked.ts";
import { checkByteSize } from "./byte_size.ts";
import { checkDuration } from "./duration.ts";

/** A parsed TOML table. */
export type TomlTable = Record<string, unknown>;

/**
 * Parses TOML text; a syntax error becomes one problem line (`line 3, column 7: ...`). With
 * `quiet`, the parser's own words are left out too (for key files, whose lines hold secrets).
 */
export function parseToml(text: string, quiet = false): Checked<TomlTable> {
  try {
    return { value: parse(text) as TomlTable };
  } catch (error) {
    if (error instanceof TomlError) {
      const where = `line ${error.line}, column ${error.column}`;
      if (quiet) return { reason: `${where}: not valid TOML` };
      const first = error.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      return { reason: `${where}: not valid TOML: ${first}` };
    }
    throw error;
  }
}

/** The path of `key` inside the table at `parent`, e.g. `users[1].ports` or `ports."tcp/22"`. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  const part = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return parent === "" ? part : `${parent}.${part}`;
}

/** A short description of a TOML value for messages: strings quoted, tables and arrays named. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a date";
  if (isTable(value)) return "a table";
  return typeof value;
}

/** Whether a parsed TOML value is a table. */
export function isTable(value: unknown): value is TomlTable {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Date);
}

/** The problem lines of one file, in the order found. */
export class Problems {
  readonly lines: string[] = [];

  /** Records `path: reason` (or just `reason` at the top level). */
  add(path: string, reason: string): void {
    this.lines.push(path === "" ? reason : `${path}: ${reason}`);
  }
}

/** Reads the keys of one table; call {@linkcode Fields.finish} once done to report unknown keys. */
export class Fields {
  /** The table being read. */
  readonly data: TomlTable;
  readonly path: string;
  readonly problems: Problems;
  readonly #seen = new Set<string>();

  constructor(data: TomlTable, path: string, problems: Problems) {
    this.data = data;
    this.path = path;
    this.problems = problems;
  }

  /** The path of `key` in this table. */
  pathOf(key: string): string {
    return childPath(this.path, key);
  }

  /** Records a problem at `key`. */
  problem(key: string, reason: string): void {
    this.problems.add(this.pathOf(key), reason);
  }

  /** The raw value (marking the key as known); records a problem when required and missing. */
  raw(key: string, required = false): unknown {
    this.#seen.add(key);
    const value = this.data[key];
    if (value === undefined && required) this.problem(key, "missing (required)");
    return value;
  }

  /** A string, optionally required to be non-empty. */
  string(key: string, options: { required?: boolean } = {}): string | undefined {
    const value = this.raw(key, options.required);
    if (value === undefined) return undefined;
    if (typeof value !== "string") return this.#wrongType(key, value, "a string");
    if (value.trim() === "") return this.#bad(key, "must not be empty");
    return value;
  }

  /** A boolean. */
  boolean(key: string): boolean | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "boolean") return this.#wrongType(key, value, "true or false");
    return value;
  }

  /** An integer in `min..max`; `what` names the range in the message. */
  integer(
    key: string,
    min: number,
    max: number,
    options: { required?: boolean; what?: string } = {},
  ): number | undefined {
    const value = this.raw(key, options.required);
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value)) {
      return this.#wrongType(key, value, "an integer");
    }
    if (value < min || value > max) {
      return this.#bad(key, `${value} is ${options.what ?? "out of range"} (${min}-${max})`);
    }
    return value;
  }

  /** One of `choices`. */
  choice<T extends string>(key: string, choices: readonly T[]): T | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !(choices as readonly string[]).includes(value)) {
      const list = choices.map((c) => JSON.stringify(c)).join(" or ");
      return this.#bad(key, `${describe(value)} is not one of ${list}`);
    }
    return value as T;
  }

  /** A duration string in milliseconds, within `min..max` milliseconds. */
  duration(
    key: string,
    min: number,
    max: number,
    minText: string,
    maxText: string,
  ): number | undefined {
    return this.#unitValue(key, checkDuration, min, max, minText, maxText, `"30s"`);
  }

  /** A byte size string in bytes, within `min..max`. */
  byteSize(
    key: string,
    min: number,
    max: number,
    minText: string,
    maxText: string,
  ): number | undefined {
    return this.#unitValue(key, checkByteSize, min, max, minText, maxText, `"32MiB"`);
  }

  /** An array whose every element passes `element`; bad elements are left out and reported. */
  array<T>(
    key: string,
    element: (value: unknown, path: string) => T | undefined,
    options: { required?: boolean; nonEmpty?: boolean } = {},
  ): T[] | undefined {
    const value = this.raw(key, options.required);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) return this.#wrongType(key, value, "an array");
    if (options.nonEmpty && value.length === 0) return this.#bad(key, "must not be empty");
    const out: T[] = [];
    let ok = true;
    for (const [i, item] of value.entries()) {
      const converted = element(item, childPath(this.pathOf(key), i));
      if (converted === undefined) ok = false;
      else out.push(converted);
    }
    return ok ? out : undefined;
  }

  /**
   * A command as an argv array of non-empty strings (never a shell string): the first element
   * names the program.
   */
  argv(key: string): string[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value === "string") {
      return this.#bad(
        key,
        `must be an array of arguments, not a string (e.g. ["systemctl", "start", "ssh"]); no shell is used`,
      );
    }
    const args = this.array(key, (item, path) => {
      if (typeof item !== "string") {
        this.problems.add(path, `${describe(item)} is not a string`);
        return undefined;
      }
      if (item.includes("\0")) {
        this.problems.add(path, "must not contain a NUL character");
        return undefined;
      }
      return item;
    }, { nonEmpty: true });
    if (args !== undefined && args[0]!.trim() === "") {
      this.problems.add(childPath(this.pathOf(key), 0), "the program name must not be empty");
      return undefined;
    }
    return args;
  }

  /** A sub-table, read with its own {@linkcode Fields}. */
  table(key: string): Fields | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (!isTable(value)) return this.#wrongType(key, value, "a table");
    return new Fields(value, this.pathOf(key), this.problems);
  }

  /** An array of tables (`[[users]]`). */
  tables(key: string): Fields[] | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) return this.#wrongType(key, value, "an array of tables");
    const out: Fields[] = [];
    for (const [i, item] of value.entries()) {
      const path = childPath(this.pathOf(key), i);
      if (!isTable(item)) this.problems.add(path, `${describe(item)} is not a table`);
      else out.push(new Fields(item, path, this.problems));
    }
    return out;
  }

  /** Reports every key that was never read, with a suggestion when one is close. */
  finish(): void {
    for (const key of Object.keys(this.data)) {
      if (this.#seen.has(key)) continue;
      const near = suggest(key, [...this.#seen]);
      this.problem(
        key,
        near === undefined ? "unknown key" : `unknown key (did you mean "${near}"?)`,
      );
    }
  }

  #unitValue(
    key: string,
    check: (text: string) => Checked<number>,
    min: number,
    max: number,
    minText: string,
    maxText: string,
    example: string,
  ): number | undefined {
    const value = this.raw(key);
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      return this.#bad(key, `${describe(value)} must be a string with a unit, e.g. ${example}`);
    }
    const checked = check(value);
    if (checked.reason !== undefined) return this.#bad(key, checked.reason);
    if (checked.value < min || checked.value > max) {
      return this.#bad(key, `${JSON.stringify(value)} is outside ${minText}..${maxText}`);
    }
    return checked.value;
  }

  #wrongType(key: string, value: unknown, expected: string): undefined {
    return this.#bad(key, `${describe(value)} is not ${expected}`);
  }

  #bad(key: string, reason: string): undefined {
    this.problem(key, reason);
    return undefined;
  }
}

/** The known key an unknown one was probably meant to be: a near spelling, or a prefix of it. */
function suggest(key: string, known: readonly string[]): string | undefined {
  const limit = key.length <= 4 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of known) {
    const distance = editDistance(key, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  if (key.length >= 3) return known.find((candidate) => candidate.startsWith(key));
  return undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, transpositions. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[][] = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = value;
    }
  }
  return d[a.length]![b.length]!;
}
