/**
 * The result of a check that reports a reason instead of throwing, so a config schema can collect
 * every problem of a file.
 *
 * @module
 */

/** Either a value, or the reason there is none (one phrase, no key path, no final period). */
export type Checked<T> = { value: T; reason?: undefined } | { value?: undefined; reason: string };
