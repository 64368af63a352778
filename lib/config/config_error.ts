/**
 * The error every config and key-file loader throws for bad input: it carries every problem found,
 * one line each, each naming the key path and the reason.
 *
 * @module
 */

/**
 * A config or key file that cannot be used. `problems` holds one line per problem, e.g.
 * `users[1].ports[0]: "tcp/99999" is not a port (1-65535)`; the message repeats them after a
 * first line naming the file.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./config_error.ts";
 * const error = new ConfigError("/etc/spa/server.toml", ["state_dir: missing (required)"]);
 * if (error.message !== "Cannot use config /etc/spa/server.toml: state_dir: missing (required)") {
 *   throw new Error(error.message);
 * }
 * ```
 */
export class ConfigError extends Error {
  /** Always `ConfigError`. */
  override name = "ConfigError";
  /** One line per problem, in the order the schema reads the keys. */
  readonly problems: readonly string[];
  /** The file the problems are in, when there is one. */
  readonly path: string | undefined;

  /**
   * An error listing `problems` of `path`.
   *
   * @param path The file, or `undefined` for text that did not come from a file.
   * @param problems At least one problem line.
   * @param options `subject` names the kind of file in the message (default `config`).
   */
  constructor(
    path: string | undefined,
    problems: readonly string[],
    options: ErrorOptions & { subject?: string } = {},
  ) {
    const subject = options.subject ?? "config";
    const where = path === undefined ? subject : `${subject} ${path}`;
    const message = problems.length === 1
      ? `Cannot use ${where}: ${problems[0]}`
      : `Cannot use ${where}: ${problems.length} problems\n${
        problems.map((p) => `  ${p}`).join("\n")
      }`;
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.problems = Object.freeze([...problems]);
    this.path = path;
  }
}
