/**
 * The argument parser of both programs: every option of every command parses in each spelling,
 * each kind of mistake is a one-line usage error, and `--help` is, byte for byte, the text the
 * programs printed before (tests/testdata/help, captured from the commander-based CLI).
 */

import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { parseArgs, type ParseResult, UsageError } from "../../lib/cli/args.ts";
import { CLIENT_PROGRAM } from "../../lib/cli/client_spec.ts";
import { wrap } from "../../lib/cli/help.ts";
import { SERVER_PROGRAM } from "../../lib/cli/server_spec.ts";
import { type CommandSpec, optionNames } from "../../lib/cli/spec.ts";
import { clientFlags, DEFAULT_SERVER_LOCATIONS, serverFlags } from "../../lib/permissions.ts";

const HELP = new URL("../testdata/help/", import.meta.url);

function run(result: ParseResult): Extract<ParseResult, { kind: "run" }> {
  if (result.kind !== "run") throw new Error(`expected a run, got ${result.kind}`);
  return result;
}

function usage(program: CommandSpec, argv: string[], expected: RegExp): void {
  throws(() => parseArgs(program, argv), (error) => {
    ok(error instanceof UsageError, String(error));
    ok(!error.message.includes("\n"), `one line: ${error.message}`);
    match(error.message, expected);
    return true;
  });
}

Deno.test("help: every command's text is the one the programs printed before", async () => {
  const cases: [CommandSpec, string[], string][] = [
    [CLIENT_PROGRAM, ["--help"], "client"],
    [CLIENT_PROGRAM, ["-h"], "client"],
    [CLIENT_PROGRAM, ["--host", "x", "--help"], "client"],
    [CLIENT_PROGRAM, ["keygen", "--help"], "client-keygen"],
    [CLIENT_PROGRAM, ["provision", "-h"], "client-provision"],
    [CLIENT_PROGRAM, ["resync", "--help"], "client-resync"],
    [CLIENT_PROGRAM, ["check", "--help"], "client-check"],
    [SERVER_PROGRAM, ["--help"], "server"],
    [SERVER_PROGRAM, ["help"], "server"],
    [SERVER_PROGRAM, ["--config", "x", "-h"], "server"],
    [SERVER_PROGRAM, ["run", "--help"], "server-run"],
    [SERVER_PROGRAM, ["help", "run"], "server-run"],
    [SERVER_PROGRAM, ["check-config", "--help"], "server-check-config"],
    [SERVER_PROGRAM, ["status", "-h"], "server-status"],
  ];
  for (const [program, argv, file] of cases) {
    const result = parseArgs(program, argv);
    equal(result.kind, "help", argv.join(" "));
    if (result.kind !== "help") continue;
    equal(result.text, await Deno.readTextFile(new URL(`${file}.txt`, HELP)), argv.join(" "));
  }
});

Deno.test("version: -V and --version print the version line", () => {
  for (const [program, line] of [[CLIENT_PROGRAM, "spa-client"], [SERVER_PROGRAM, "spa-server"]]) {
    for (const flag of ["-V", "--version"]) {
      const result = parseArgs(program as CommandSpec, [flag]);
      equal(result.kind, "version");
      if (result.kind === "version") {
        match(result.text, new RegExp(`^${line} \\S+ \\(protocol \\d+\\)\\n$`));
      }
    }
  }
  usage(CLIENT_PROGRAM, ["keygen", "-V"], /unknown option '-V'/);
});

Deno.test("every option of every command parses, in each spelling", () => {
  for (const program of [CLIENT_PROGRAM, SERVER_PROGRAM]) {
    const commands: [string[], CommandSpec][] = [
      ...(program.defaultCommand === undefined ? [[[], program] as [string[], CommandSpec]] : []),
      ...(program.commands ?? []).map((c) => [[c.name], c] as [string[], CommandSpec]),
    ];
    for (const [prefix, command] of commands) {
      const required = command.options.filter((o) => o.required).flatMap((o) => {
        const n = optionNames(o);
        return [n.long, "1"];
      });
      for (const option of command.options) {
        const n = optionNames(option);
        const where = `${program.name} ${prefix.join(" ")} ${option.flags}`;
        if (n.value === undefined) {
          const flags = run(parseArgs(program, [...prefix, ...required, n.long])).flags;
          equal(flags.flag(n.key), !n.negate, where);
          if (n.short !== undefined) {
            equal(
              run(parseArgs(program, [...prefix, ...required, n.short])).flags.flag(n.key),
              true,
            );
          }
          const absent = run(parseArgs(program, [...prefix, ...required])).flags;
          equal(absent.flag(n.key), n.negate, `${where} absent`);
          continue;
        }
        const value = option.choices?.[1] ?? "v=1";
        const spellings = [[n.long, value], [`${n.long}=${value}`]];
        if (n.short !== undefined) spellings.push([n.short, value], [`${n.short}${value}`]);
        for (const spelling of spellings) {
          const at = required.indexOf(n.long);
          const rest = at < 0 ? required : [...required.slice(0, at), ...required.slice(at + 2)];
          const result = run(parseArgs(program, [...prefix, ...rest, ...spelling]));
          equal(result.command, prefix[0] ?? program.defaultCommand, where);
          equal(result.flags.string(n.key), value, `${where}: ${spelling.join(" ")}`);
        }
        if (!option.required) {
          const absent = run(parseArgs(program, [...prefix, ...required])).flags;
          equal(absent.string(n.key), option.default, `${where} absent`);
        }
        usage(program, [...prefix, ...required, n.long], /argument missing/);
      }
    }
  }
});

Deno.test("the server runs its default command without one, with run's options", () => {
  const bare = run(parseArgs(SERVER_PROGRAM, []));
  equal(bare.command, "run");
  equal(bare.flags.string("config"), "/etc/spa/server.toml");
  const given = run(parseArgs(SERVER_PROGRAM, ["-c", "/x.toml", "--log-format", "json"]));
  deepEqual([given.command, given.flags.string("config"), given.flags.string("logFormat")], [
    "run",
    "/x.toml",
    "json",
  ]);
});

Deno.test("short flags combine; the last of a repeated option wins", () => {
  equal(parseArgs(CLIENT_PROGRAM, ["-vh"]).kind, "help");
  equal(parseArgs(SERVER_PROGRAM, ["run", "-hc", "x"]).kind, "help");
  const result = parseArgs(CLIENT_PROGRAM, ["--port", "1", "--port", "2", "-v"]);
  equal(run(result).flags.string("port"), "2");
  equal(run(result).flags.flag("verbose"), true);
});

Deno.test("mistakes are one-line usage errors", () => {
  usage(CLIENT_PROGRAM, ["--frobnicate"], /^unknown option '--frobnicate'$/);
  usage(CLIENT_PROGRAM, ["--frobnicate=1"], /^unknown option '--frobnicate'$/);
  usage(CLIENT_PROGRAM, ["-x"], /^unknown option '-x'$/);
  usage(CLIENT_PROGRAM, ["-vx"], /^unknown option '-x'$/);
  usage(CLIENT_PROGRAM, ["--port"], /^option '--port <port>' argument missing$/);
  usage(CLIENT_PROGRAM, ["--json=yes"], /^option '--json' takes no value$/);
  usage(CLIENT_PROGRAM, ["web1"], /too many arguments\. Expected 0 arguments but got 1\./);
  usage(CLIENT_PROGRAM, ["--host", "x", "keygen"], /too many arguments/);
  usage(
    CLIENT_PROGRAM,
    ["keygen", "--uid", "1"],
    /^required option '--name <name>' not specified$/,
  );
  usage(CLIENT_PROGRAM, ["provision"], /^required option '--host <host>' not specified$/);
  usage(CLIENT_PROGRAM, ["keygen", "--all"], /^unknown option '--all'$/);
  usage(CLIENT_PROGRAM, ["resync", "--no-exec"], /^unknown option '--no-exec'$/);
  usage(SERVER_PROGRAM, ["--no-such-option"], /^unknown option '--no-such-option'$/);
  usage(SERVER_PROGRAM, ["status", "extra"], /^too many arguments for 'status'/);
  usage(SERVER_PROGRAM, ["check-config", "--json"], /^unknown option '--json'$/);
  usage(
    SERVER_PROGRAM,
    ["run", "--log-format", "xml"],
    /^option '--log-format <format>' argument 'xml' is invalid\. Allowed choices are text, json\.$/,
  );
  usage(SERVER_PROGRAM, ["-c"], /^option '-c, --config <file>' argument missing$/);
});

Deno.test("an option's value may start with a dash, and -- ends the options", () => {
  equal(run(parseArgs(CLIENT_PROGRAM, ["--retries", "-1"])).flags.string("retries"), "-1");
  usage(SERVER_PROGRAM, ["run", "--", "--json"], /too many arguments for 'run'/);
});

Deno.test("wrap keeps line breaks and breaks long lines on spaces", () => {
  equal(wrap("a b c\nd", 3), "a b\nc\nd");
  equal(wrap("", 10), "");
  equal(wrap("averyveryverylongword x", 5), "averyveryverylongword\nx");
});

Deno.test("both programs: usage errors exit 2 with one line on stderr", async () => {
  for (
    const [entry, argv, line] of [
      [
        "client.ts",
        ["--frobnicate"],
        /^spa-client: Cannot parse the command line: unknown option '--frobnicate' \(see spa-client --help\)\n$/,
      ],
      [
        "server.ts",
        ["--frobnicate"],
        /^spa-server: Cannot parse the command line: unknown option '--frobnicate' \(see spa-server --help\)\n$/,
      ],
      [
        "server.ts",
        ["run", "--log-format", "x"],
        /^spa-server: Cannot parse the command line: option '--log-format <format>' argument 'x' is invalid/,
      ],
    ] as const
  ) {
    const flags = entry === "client.ts" ? clientFlags() : serverFlags(DEFAULT_SERVER_LOCATIONS);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, new URL(`../../${entry}`, import.meta.url).pathname, ...argv],
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(out.code, 2);
    equal(new TextDecoder().decode(out.stdout), "");
    match(new TextDecoder().decode(out.stderr), line);
  }
});
