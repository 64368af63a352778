/**
 * The one rule for the names spa writes in logs, configs and key derivation (user names, host
 * entries, server ids): safe to print unquoted, safe as a file name.
 *
 * @module
 */

/** Longest name, in characters (ASCII, so also in bytes). */
export const MAX_NAME_LENGTH = 64;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Whether `text` is a valid name: 1 to 64 ASCII letters, digits, `.`, `_` or `-`, starting with a
 * letter or digit.
 *
 * @example
 * ```ts
 * import { isValidName } from "./name.ts";
 * if (!isValidName("alice.laptop") || isValidName("-x") || isValidName("a b")) throw new Error();
 * ```
 */
export function isValidName(text: string): boolean {
  return NAME.test(text);
}
