/**
 * Writes the bash completions `packaging/completions/spa-server` and `spa-client` from the
 * programs' own `--help` (lib/cli/help.ts prints it from the command specs). Each program
 * runs under its shipped permission set; the subcommands, options and value placeholders are read
 * from the help text, so a test that regenerates the files catches any drift.
 *
 * ```sh
 * deno run --allow-read --allow-write=packaging/completions --allow-run packaging/make_completions.ts
 * ```
 *
 * zsh users load them through bash's compatibility layer:
 * `autoload -U +X bashcompinit && bashcompinit && source /path/to/spa-client`.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  type Binary,
  clientFlags,
  DEFAULT_SERVER_LOCATIONS,
  serverFlags,
} from "../lib/permissions.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url)).replace(/\/$/, "");

/** One option as the help shows it. */
export interface HelpOption {
  /** Every spelling, e.g. `["-c", "--config"]`. */
  names: string[];
  /** The value placeholder without brackets, e.g. `file`; undefined for a flag. */
  value: string | undefined;
}

/** One (sub)command: its options and subcommands. */
export interface HelpCommand {
  options: HelpOption[];
  commands: string[];
}

/**
 * Reads the options and subcommands out of one help text (lib/cli/help.ts layout).
 *
 * @example
 * ```ts
 * import { parseHelp } from "./make_completions.ts";
 * const help = parseHelp("Options:\n  -c, --config <file>  config\n\nCommands:\n  run [options]  run\n");
 * if (help.options[0]!.value !== "file" || help.commands[0] !== "run") throw new Error();
 * ```
 */
export function parseHelp(text: string): HelpCommand {
  const options: HelpOption[] = [];
  const commands: string[] = [];
  let section = "";
  for (const line of text.split("\n")) {
    const heading = /^(\w[\w ]*):$/.exec(line);
    if (heading) {
      section = heading[1]!;
      continue;
    }
    if (section === "Options") {
      const m = /^ {2}((?:-\w, )?--[\w-]+)(?: <([\w-]+)>)?(?: {2,}|$)/.exec(line);
      if (m) options.push({ names: m[1]!.split(", "), value: m[2] });
    } else if (section === "Commands") {
      const m = /^ {2}([\w-]+)(?: \[[\w ]+\])*(?: {2,}|$)/.exec(line);
      if (m && m[1] !== "help") commands.push(m[1]!);
    }
  }
  return { options, commands };
}

async function help(binary: Binary, args: string[]): Promise<string> {
  const flags = binary === "spa-server" ? serverFlags(DEFAULT_SERVER_LOCATIONS) : clientFlags();
  const entry = binary === "spa-server" ? "server.ts" : "client.ts";
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, `${ROOT}/${entry}`, ...args, "--help"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot read ${binary} ${args.join(" ")} --help: exit code ${out.code}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Words that complete each value placeholder (a bash `compgen` action). */
function valueAction(binary: Binary, value: string): string {
  switch (value) {
    case "file":
      return `COMPREPLY=($(compgen -f -- "$cur"))`;
    case "dir":
      return `COMPREPLY=($(compgen -d -- "$cur"))`;
    case "format":
      return `COMPREPLY=($(compgen -W "text json" -- "$cur"))`;
    case "transport":
      return `COMPREPLY=($(compgen -W "syn udp" -- "$cur"))`;
    case "source":
      return `COMPREPLY=($(compgen -W "auto none" -- "$cur"))`;
    case "host":
      return binary === "spa-client"
        ? `COMPREPLY=($(compgen -W "$(_spa_client_hosts)" -- "$cur"))`
        : "COMPREPLY=()";
    default:
      return "COMPREPLY=()";
  }
}

const HOSTS_FUNCTION = `# Host names of the client config ([hosts.NAME] tables).
_spa_client_hosts() {
  local config="\${XDG_CONFIG_HOME:-$HOME/.config}/spa/client.toml" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ \${COMP_WORDS[i]} == --config ]] && config=\${COMP_WORDS[i + 1]}
  done
  [[ -r $config ]] && sed -n 's/^\\[hosts\\.\\([A-Za-z0-9._-]*\\)\\].*/\\1/p' "$config"
}
`;

/**
 * The bash completion script of `binary`, from its help texts.
 *
 * @example
 * ```ts ignore
 * console.log(await completionScript("spa-client"));
 * ```
 */
export async function completionScript(binary: Binary): Promise<string> {
  const root = parseHelp(await help(binary, []));
  const sub = new Map<string, HelpCommand>();
  for (const command of root.commands) sub.set(command, parseHelp(await help(binary, [command])));
  const fn = `_${binary.replace("-", "_")}`;
  const all = [root, ...sub.values()].flatMap((c) => c.options);
  const valued = new Map<string, string>();
  for (const option of all) {
    if (option.value === undefined) continue;
    for (const name of option.names) if (!valued.has(name)) valued.set(name, option.value);
  }
  const words = (c: HelpCommand, extra: string[] = []) =>
    [...extra, ...c.options.flatMap((o) => o.names.filter((n) => n.startsWith("--")))].join(" ");
  const lines = [
    `# bash completion for ${binary}. Generated by packaging/make_completions.ts from`,
    `# \`${binary} --help\`; do not edit. Install as`,
    `# /usr/share/bash-completion/completions/${binary}; zsh: autoload -U +X bashcompinit &&`,
    `# bashcompinit && source this file.`,
    "",
    ...(binary === "spa-client" ? [HOSTS_FUNCTION] : []),
    `${fn}() {`,
    `  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]} command="" i`,
    `  for ((i = 1; i < COMP_CWORD; i++)); do`,
    `    [[ \${COMP_WORDS[i]} == -- ]] && { COMPREPLY=(); return; }`,
    `    case \${COMP_WORDS[i]} in`,
    ...(root.commands.length > 0
      ? [`      ${root.commands.join(" | ")}) command=\${COMP_WORDS[i]} ;;`]
      : []),
    `    esac`,
    `  done`,
    `  case $prev in`,
    ...[...valued].map(([name, value]) => `    ${name}) ${valueAction(binary, value)}; return ;;`),
    `  esac`,
    `  case $command in`,
    ...[...sub].map(([name, c]) =>
      `    ${name}) COMPREPLY=($(compgen -W "${words(c)}" -- "$cur")) ;;`
    ),
    `    *) COMPREPLY=($(compgen -W "${words(root, root.commands)}" -- "$cur")) ;;`,
    `  esac`,
    `}`,
    `complete -F ${fn} ${binary}`,
    "",
  ];
  return lines.join("\n");
}

if (import.meta.main) {
  await Deno.mkdir(`${ROOT}/packaging/completions`, { recursive: true });
  for (const binary of ["spa-server", "spa-client"] as const) {
    await Deno.writeTextFile(
      `${ROOT}/packaging/completions/${binary}`,
      await completionScript(binary),
    );
  }
}
