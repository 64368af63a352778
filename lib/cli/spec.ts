/**
 * The shape of a command line: commands, their options and their help text. Both programs
 * describe themselves with these plain objects; {@linkcode parseArgs} reads argv against them and
 * {@linkcode formatHelp} prints the man-page-like `--help`.
 *
 * @module
 */

/** One option, e.g. `{ flags: "-c, --config <file>", description: "configuration file" }`. */
export interface OptionSpec {
  /**
   * Its spellings and value placeholder as the help shows them: `--json`, `-v, --verbose`,
   * `--port <port>`, `-c, --config <file>`, or `--no-exec` (a flag that is true unless given).
   */
  readonly flags: string;
  /** One line (wrapped by the help) saying what it does. */
  readonly description: string;
  /** The value when the option is not given; the help adds `(default: "...")`. */
  readonly default?: string;
  /** The only values accepted; the help adds `(choices: "a", "b")`. */
  readonly choices?: readonly string[];
  /** A usage error when the option is missing. */
  readonly required?: boolean;
}

/** One command (the program itself, or a subcommand). */
export interface CommandSpec {
  /** The program (`spa-client`) or subcommand (`keygen`) name. */
  readonly name: string;
  /** The text after `Usage: <name> `; default `[options]`. */
  readonly usage?: string;
  /** What the command does; lines are kept, long lines wrapped. */
  readonly description: string;
  /** Its options, in help order (`-h, --help` is added last). */
  readonly options: readonly OptionSpec[];
  /** The program's version line: adds `-V, --version` first. */
  readonly version?: string;
  /** Subcommands. */
  readonly commands?: readonly CommandSpec[];
  /** The subcommand run when argv names none (e.g. the server's `run`). */
  readonly defaultCommand?: string;
  /** List `help [command]` among the commands, and accept it. */
  readonly helpCommand?: boolean;
  /** Text printed after the generated help (examples, files, exit codes). */
  readonly helpAfter?: string;
}

/** The help option every command has. */
export const HELP_OPTION: OptionSpec = { flags: "-h, --help", description: "show this help" };

/** The version option of a command with a {@linkcode CommandSpec.version}. */
export const VERSION_OPTION: OptionSpec = {
  flags: "-V, --version",
  description: "print the version and the protocol version",
};

/** An option's spellings read out of its {@linkcode OptionSpec.flags}. */
export interface OptionNames {
  /** `-c`, or undefined. */
  short: string | undefined;
  /** `--config`. */
  long: string;
  /** `config`, `viaPort`, `exec` (for `--no-exec`): the key of the parsed value. */
  key: string;
  /** The value placeholder (`file`), undefined for a flag. */
  value: string | undefined;
  /** A `--no-` flag: true unless given. */
  negate: boolean;
}

/**
 * Reads the spellings out of an option's flags.
 *
 * @example
 * ```ts
 * import { optionNames } from "./spec.ts";
 * const names = optionNames({ flags: "--via-port <port>", description: "" });
 * if (names.key !== "viaPort" || names.value !== "port") throw new Error();
 * ```
 */
export function optionNames(option: OptionSpec): OptionNames {
  const m = /^(?:(-\w), )?(--[\w-]+)(?: <([\w-]+)>)?$/.exec(option.flags);
  if (m === null) throw new TypeError(`Cannot use option flags "${option.flags}"`);
  const long = m[2]!;
  const negate = long.startsWith("--no-");
  const bare = negate ? long.slice(5) : long.slice(2);
  const key = bare.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
  return { short: m[1], long, key, value: m[3], negate };
}
