/**
 * The `--help` text of a {@linkcode CommandSpec}: usage, description, an options table and a
 * commands table (terms padded to one column, descriptions wrapped at 100 columns), then the
 * command's own text. The layout is the one the programs printed with commander, so manuals,
 * the README and the bash completions (read from this text) stay as they were.
 *
 * @module
 */

import { type CommandSpec, HELP_OPTION, type OptionSpec, VERSION_OPTION } from "./spec.ts";

/** Columns of the help text. */
export const HELP_WIDTH = 100;

/** Wrapping is not worth it below this many columns for the descriptions. */
const MIN_WRAP_WIDTH = 40;

/**
 * Wraps each line of `text` at `width` columns on spaces, keeping its line breaks.
 *
 * @example
 * ```ts
 * import { wrap } from "./help.ts";
 * if (wrap("aa bb cc", 5) !== "aa bb\ncc") throw new Error();
 * ```
 */
export function wrap(text: string, width: number): string {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    const chunks = line.match(/\s*\S+/g);
    if (chunks === null) {
      lines.push("");
      continue;
    }
    let current = chunks[0]!;
    for (const chunk of chunks.slice(1)) {
      if (current.length + chunk.length <= width) {
        current += chunk;
      } else {
        lines.push(current);
        current = chunk.trimStart();
      }
    }
    lines.push(current);
  }
  return lines.join("\n");
}

/** The options a command shows and accepts, in help order. */
export function commandOptions(command: CommandSpec): OptionSpec[] {
  return [
    ...(command.version === undefined ? [] : [VERSION_OPTION]),
    ...command.options,
    HELP_OPTION,
  ];
}

function optionDescription(option: OptionSpec): string {
  if (option.choices !== undefined) {
    return `${option.description} (choices: ${option.choices.map((c) => `"${c}"`).join(", ")})`;
  }
  if (option.default !== undefined) return `${option.description} (default: "${option.default}")`;
  return option.description;
}

function commandTerm(command: CommandSpec): string {
  return command.options.length > 0 ? `${command.name} [options]` : command.name;
}

/**
 * The help text of `command` (`path` is how it is called, e.g. `spa-client keygen`), ending in a
 * newline.
 *
 * @example
 * ```ts
 * import { formatHelp } from "./help.ts";
 * const text = formatHelp({ name: "x", description: "does x", options: [] }, "x");
 * if (!text.startsWith("Usage: x [options]\n\ndoes x\n\nOptions:\n  -h, --help")) throw new Error();
 * ```
 */
export function formatHelp(command: CommandSpec, path: string): string {
  const options = commandOptions(command).map((o) => [o.flags, optionDescription(o)] as const);
  const commands = (command.commands ?? []).map((c) => [commandTerm(c), c.description] as const);
  if (command.helpCommand) commands.push(["help [command]", "display help for command"]);
  const termWidth = Math.max(...[...options, ...commands].map(([term]) => term.length));
  const descriptionWidth = HELP_WIDTH - termWidth - 4;
  const item = ([term, description]: readonly [string, string]) => {
    const text = descriptionWidth < MIN_WRAP_WIDTH
      ? description
      : wrap(description, descriptionWidth).replaceAll("\n", `\n${" ".repeat(termWidth + 4)}`);
    return `  ${term.padEnd(termWidth)}  ${text}`;
  };
  const parts = [
    `Usage: ${path} ${command.usage ?? "[options]"}`,
    "",
    wrap(command.description, HELP_WIDTH),
    "",
    "Options:",
    ...options.map(item),
  ];
  if (commands.length > 0) parts.push("", "Commands:", ...commands.map(item));
  return `${parts.join("\n")}\n${command.helpAfter === undefined ? "" : `${command.helpAfter}\n`}`;
}
