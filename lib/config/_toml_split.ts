/**
 * Parsing a server config with thousands of `[[users]]` tables in pieces, so that a reloading
 * daemon can answer knocks between them (private to `lib/config`).
 *
 * The text is cut before every line that may be a table header (a line starting with `[`). The
 * cut is used only when it provably gives what one parse of the whole text gives:
 * - every piece parses on its own: starting at the top level, it then also ends there (no string,
 *   array or inline table left open), so by induction every cut line is a real table header;
 * - each header is either exactly `[[users]]` (a piece holding one user's table) or names a first
 *   key other than `users` (those pieces, with the text before the first `[[users]]`, are parsed
 *   again as one text, which keeps TOML's rules between tables, e.g. a table defined twice);
 * - that text defines no `users` key of its own.
 *
 * Otherwise (a header this module does not read, a piece that does not parse on its own, no
 * `[[users]]` at all), the whole text is parsed at once, which also gives the error message with
 * its line number.
 *
 * @module
 */

import type { Checked } from "./_checked.ts";
import { parseToml, type TomlTable } from "./_fields.ts";

/**
 * A line that may be a table header. Lines end only at "\n": a multiline `^` would also match
 * after U+2028 or U+2029, which TOML allows inside a comment.
 */
const HEADER_LINE = /(?<=^|\n)[ \t]*\[/g;

/**
 * Where the first line that may be a table header starts (every top-level key comes before it),
 * or `undefined` when there is none.
 *
 * @example
 * ```ts
 * import { firstHeaderAt } from "./_toml_split.ts";
 * if (firstHeaderAt('a = 1\n[[users]]\n') !== 6) throw new Error();
 * if (firstHeaderAt("a = 1 # \u2028[x]\n") !== undefined) throw new Error("U+2028 is no line end");
 * ```
 */
export function firstHeaderAt(text: string): number | undefined {
  HEADER_LINE.lastIndex = 0;
  const match = HEADER_LINE.exec(text);
  HEADER_LINE.lastIndex = 0;
  return match?.index;
}
/** Exactly a `[[users]]` header, with an optional comment. */
const USERS_HEADER = /^[ \t]*\[\[[ \t]*users[ \t]*\]\][ \t]*(?:#[^\r\n]*)?\r?$/;
/** A header's first key: bare, or quoted without escapes. */
const FIRST_KEY = /^[ \t]*\[\[?[ \t]*(?:([A-Za-z0-9_-]+)|"([^"\\\r\n]*)"|'([^'\r\n]*)')/;

/** The config text cut into pieces (see the module doc), or `undefined`. */
export interface TomlPieces {
  /** The text before the first `[[users]]`. */
  readonly before: string;
  /** Each `[[users]]` table's text, header included, in order. */
  readonly users: readonly string[];
  /** The other tables after the first `[[users]]`, in order. */
  readonly after: readonly string[];
}

/**
 * Cuts `text` before every line starting with `[`; `undefined` when a header is neither exactly
 * `[[users]]` nor one whose first key is something else, or when there is no `[[users]]`.
 *
 * @example
 * ```ts
 * import { cutTomlPieces } from "./_toml_split.ts";
 * const pieces = cutTomlPieces(`a = 1\n[[users]]\nuid = 1\n[b]\nc = 2\n[[users]]\nuid = 2\n`);
 * if (pieces?.users.length !== 2 || pieces.after.join() !== "[b]\nc = 2\n") throw new Error();
 * if (cutTomlPieces(`[users.x]\n[[users]]\n`) !== undefined) throw new Error();
 * ```
 */
export function cutTomlPieces(text: string): TomlPieces | undefined {
  const starts: number[] = [];
  for (const match of text.matchAll(HEADER_LINE)) starts.push(match.index);
  let before: string | undefined;
  const users: string[] = [];
  const after: string[] = [];
  for (let i = 0; i < starts.length; i++) {
    const piece = text.slice(starts[i], starts[i + 1] ?? text.length);
    const end = piece.indexOf("\n");
    const header = end < 0 ? piece : piece.slice(0, end);
    if (USERS_HEADER.test(header)) {
      before ??= text.slice(0, starts[i]);
      users.push(piece);
      continue;
    }
    const key = FIRST_KEY.exec(header);
    const name = key?.[1] ?? key?.[2] ?? key?.[3];
    if (name === undefined || name === "users") return undefined;
    if (before !== undefined) after.push(piece);
  }
  if (before === undefined) return undefined;
  return { before, users, after };
}

/**
 * Parses TOML text like `parseToml`, in steps: it yields after each `[[users]]` table when the
 * text can be cut (see the module doc), so a caller can let the event loop run in between.
 * Gives exactly what `parseToml(text)` gives.
 *
 * @example
 * ```ts
 * import { parseTomlSteps } from "./_toml_split.ts";
 * const steps = parseTomlSteps(`a = 1\n[[users]]\nuid = 1\n[[users]]\nuid = 2\n`);
 * let next = steps.next();
 * while (!next.done) next = steps.next();
 * const users = next.value.value?.users as { uid: number }[];
 * if (users.map((u) => u.uid).join() !== "1,2") throw new Error();
 * ```
 */
export function* parseTomlSteps(text: string): Generator<void, Checked<TomlTable>, void> {
  const pieces = cutTomlPieces(text);
  if (pieces === undefined) return parseToml(text);
  const whole = () => parseToml(text);
  const head = parseToml(pieces.before, true);
  if (head.reason !== undefined) return whole();
  for (const piece of pieces.after) {
    if (parseToml(piece, true).reason !== undefined) return whole();
  }
  const rest = pieces.after.length === 0
    ? head
    : parseToml(pieces.before + pieces.after.join(""), true);
  if (rest.reason !== undefined || rest.value.users !== undefined) return whole();
  const users: unknown[] = [];
  for (const piece of pieces.users) {
    const one = parseToml(piece, true);
    const table = (one.value?.users as unknown[] | undefined)?.[0];
    if (one.reason !== undefined || table === undefined) return whole();
    users.push(table);
    yield;
  }
  // Keys in the order one parse gives: those defined before the first [[users]], then users.
  const value: TomlTable = {};
  for (const key of Object.keys(rest.value)) {
    if (key in head.value) value[key] = rest.value[key];
  }
  value.users = users;
  for (const key of Object.keys(rest.value)) value[key] ??= rest.value[key];
  return { value };
}
