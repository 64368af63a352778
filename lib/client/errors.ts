/**
 * The client's one error class and its exit codes.
 *
 * @module
 */

/** Exit codes of `spa-client`. */
export const EXIT_CODES = Object.freeze({
  /** Done; for `check`, the host was in sync. */
  ok: 0,
  /** A runtime failure: no ack, unreachable host, unusable key or state file. */
  failed: 1,
  /** Bad command line or config. */
  usage: 2,
  /** `check` only: the host was out of sync and a resync brought it back. */
  resynced: 3,
});

/** Whether an error is the user's input (exit 2) or something that failed while running (exit 1). */
export type ClientErrorKind = "usage" | "runtime";

/**
 * A failure to report to the user as one line (its message) with an exit code. Anything else
 * thrown by the client is a bug or an unexpected system error and also exits 1.
 *
 * @example
 * ```ts
 * import { ClientError } from "./errors.ts";
 * const error = new ClientError("Cannot knock: bad port", { kind: "usage" });
 * if (error.exitCode !== 2) throw new Error("a usage error exits 2");
 * ```
 */
export class ClientError extends Error {
  override name = "ClientError";
  /** Usage or runtime. */
  readonly kind: ClientErrorKind;

  /**
   * @param message One line, `Cannot do x: reason`.
   * @param options `kind` (default `runtime`) and an optional `cause`.
   */
  constructor(message: string, options: ErrorOptions & { kind?: ClientErrorKind } = {}) {
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.kind = options.kind ?? "runtime";
  }

  /** 2 for usage errors, 1 otherwise. */
  get exitCode(): number {
    return this.kind === "usage" ? EXIT_CODES.usage : EXIT_CODES.failed;
  }
}

/**
 * A usage error: bad input on the command line or in the config (exit code 2).
 *
 * @example
 * ```ts
 * import { usageError } from "./errors.ts";
 * if (usageError("Cannot knock: bad port").exitCode !== 2) throw new Error("unexpected");
 * ```
 */
export function usageError(message: string, cause?: unknown): ClientError {
  return new ClientError(
    message,
    cause === undefined ? { kind: "usage" } : { kind: "usage", cause },
  );
}

/**
 * `n` and a noun, plural unless `n` is 1: `count(1, "packet")` is `1 packet`.
 *
 * @example
 * ```ts
 * import { count } from "./errors.ts";
 * if (count(2, "try", "tries") !== "2 tries" || count(1, "packet") !== "1 packet") throw new Error();
 * ```
 */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}

/**
 * The error to throw when writing `path` (a `what`, e.g. `key file`) failed with `error`:
 * `Cannot write key file /x: it already exists`. A missing Deno permission (`NotCapable`) is
 * returned as it is, so the caller's permission report sees it.
 *
 * @param ifExists The reason given when the file already exists.
 * @example
 * ```ts
 * import { writeFailure } from "./errors.ts";
 * const error = writeFailure("key file", "/x", new Deno.errors.AlreadyExists("exists"));
 * if (error.message !== "Cannot write key file /x: it already exists") throw new Error();
 * ```
 */
export function writeFailure(
  what: string,
  path: string,
  error: unknown,
  ifExists = "it already exists",
): Error {
  if (error instanceof Deno.errors.NotCapable) return error;
  const reason = error instanceof Deno.errors.AlreadyExists
    ? ifExists
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : (error as Error).message;
  return new ClientError(`Cannot write ${what} ${path}: ${reason}`, { cause: error });
}
