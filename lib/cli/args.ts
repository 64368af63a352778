/**
 * A small argument parser for the two programs: GNU-style long options (`--port 22`,
 * `--port=22`), short options (`-c file`, `-cfile`, `-vh`), `--no-` flags, one level of
 * subcommands, a default subcommand, required options and choices. Plain ESM with no Node
 * built-in, so a knock does not pay for Deno's Node compatibility layer (commander, the library
 * it replaces, costs about 52 ms of start-up; see README, Performance).
 *
 * Every mistake is a {@linkcode UsageError} whose message is one line; `--help` and `--version`
 * are results, not errors, so the caller decides where they are printed.
 *
 * @module
 */

import { commandOptions, formatHelp } from "./help.ts";
import { type CommandSpec, type OptionNames, optionNames, type OptionSpec } from "./spec.ts";

/** A command line that does not fit the program's {@linkcode CommandSpec}. */
export class UsageError extends Error {
  /** @param message one line, e.g. `unknown option '--frobnicate'` */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The options given (or defaulted) on a command line, by key (`viaPort` for `--via-port`). */
export class ParsedFlags {
  readonly #values: Map<string, string | boolean>;

  /** @internal Built by {@linkcode parseArgs}. */
  constructor(values: Map<string, string | boolean>) {
    this.#values = values;
  }

  /** The value of a value option, undefined when not given and without default. */
  string(key: string): string | undefined {
    const value = this.#values.get(key);
    return typeof value === "string" ? value : undefined;
  }

  /** Whether a flag is on (`--no-x` flags: true unless given). */
  flag(key: string): boolean {
    return this.#values.get(key) === true;
  }

  /** Whether the option was given or has a default. */
  has(key: string): boolean {
    return this.#values.has(key);
  }
}

/** What a command line asks for. */
export type ParseResult =
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version"; readonly text: string }
  | {
    readonly kind: "run";
    /** The subcommand, undefined for the program itself. */
    readonly command: string | undefined;
    readonly flags: ParsedFlags;
  };

interface Known extends OptionNames {
  readonly spec: OptionSpec;
}

/**
 * Parses `argv` (the arguments after the program name) against `program`.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./args.ts";
 * const program = {
 *   name: "x",
 *   description: "x",
 *   options: [{ flags: "--port <port>", description: "port" }],
 * };
 * const result = parseArgs(program, ["--port=22"]);
 * if (result.kind !== "run" || result.flags.string("port") !== "22") throw new Error();
 * ```
 */
export function parseArgs(program: CommandSpec, argv: readonly string[]): ParseResult {
  const first = argv[0];
  const named = program.commands?.find((c) => c.name === first);
  if (named !== undefined) {
    return parseCommand(named, `${program.name} ${named.name}`, argv.slice(1));
  }
  if (program.helpCommand && first === "help") {
    const topic = program.commands?.find((c) => c.name === argv[1]);
    return {
      kind: "help",
      text: topic === undefined
        ? formatHelp(program, program.name)
        : formatHelp(topic, `${program.name} ${topic.name}`),
    };
  }
  const fallback = program.commands?.find((c) => c.name === program.defaultCommand);
  if (fallback !== undefined) {
    // The root's own --help and --version win over the default command's options.
    if (argv.some((a) => a === "-h" || a === "--help")) {
      return { kind: "help", text: formatHelp(program, program.name) };
    }
    if (program.version !== undefined && argv.some((a) => a === "-V" || a === "--version")) {
      return { kind: "version", text: `${program.version}\n` };
    }
    return parseCommand(fallback, `${program.name} ${fallback.name}`, argv);
  }
  return parseCommand(program, program.name, argv, program);
}

function parseCommand(
  command: CommandSpec,
  path: string,
  argv: readonly string[],
  root?: CommandSpec,
): ParseResult {
  const known: Known[] = commandOptions(command).map((spec) => ({ spec, ...optionNames(spec) }));
  const values = new Map<string, string | boolean>();
  const extra: string[] = [];
  const label = root === undefined ? ` for '${command.name}'` : "";
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      extra.push(...argv.slice(i + 1));
      break;
    }
    let option: Known | undefined;
    let inline: string | undefined;
    if (token.startsWith("--")) {
      const eq = token.indexOf("=");
      const name = eq < 0 ? token : token.slice(0, eq);
      inline = eq < 0 ? undefined : token.slice(eq + 1);
      option = known.find((o) => o.long === name);
      if (option === undefined) throw new UsageError(`unknown option '${name}'`);
      if (option.value === undefined && inline !== undefined) {
        throw new UsageError(`option '${option.spec.flags}' takes no value`);
      }
    } else if (token.startsWith("-") && token.length > 1) {
      option = known.find((o) => o.short === token.slice(0, 2));
      if (option === undefined) throw new UsageError(`unknown option '${token.slice(0, 2)}'`);
      const rest = token.slice(2);
      if (option.value !== undefined) inline = rest === "" ? undefined : rest;
      else if (rest !== "") argv = [...argv.slice(0, i + 1), `-${rest}`, ...argv.slice(i + 1)];
    } else {
      extra.push(token);
      continue;
    }
    if (option.key === "help") return { kind: "help", text: formatHelp(command, path) };
    if (option.key === "version" && command.version !== undefined) {
      return { kind: "version", text: `${command.version}\n` };
    }
    if (option.value === undefined) {
      values.set(option.key, !option.negate);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new UsageError(`option '${option.spec.flags}' argument missing`);
    const choices = option.spec.choices;
    if (choices !== undefined && !choices.includes(value)) {
      throw new UsageError(
        `option '${option.spec.flags}' argument '${value}' is invalid. Allowed choices are ${
          choices.join(", ")
        }.`,
      );
    }
    values.set(option.key, value);
  }
  if (extra.length > 0) {
    const word = root?.commands !== undefined ? ` (no command '${extra[0]}')` : "";
    throw new UsageError(
      `too many arguments${label}. Expected 0 arguments but got ${extra.length}.${word}`,
    );
  }
  for (const option of known) {
    if (values.has(option.key)) continue;
    if (option.spec.required) {
      throw new UsageError(`required option '${option.spec.flags}' not specified`);
    }
    if (option.negate) values.set(option.key, true);
    else if (option.spec.default !== undefined) values.set(option.key, option.spec.default);
  }
  return {
    kind: "run",
    command: root === undefined ? command.name : undefined,
    flags: new ParsedFlags(values),
  };
}
