/**
 * The bash completions in `packaging/completions/` are what `packaging/make_completions.ts`
 * generates from the programs' current `--help` (so they cannot drift), and bash completes
 * subcommands, options, option values and the client config's host names with them.
 */

import { deepEqual, equal } from "node:assert/strict";
import { completionScript, parseHelp } from "../../packaging/make_completions.ts";
import { ROOT, run } from "./_helpers.ts";

const DIR = `${ROOT}/packaging/completions`;

/** What bash completes for `words`, the last being the word under the cursor. */
async function complete(
  binary: string,
  words: string[],
  env: Record<string, string> = {},
): Promise<string[]> {
  const fn = `_${binary.replace("-", "_")}`;
  const quoted = [binary, ...words].map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
  const script = `source ${DIR}/${binary}; COMP_WORDS=(${quoted}); ` +
    `COMP_CWORD=${words.length}; ${fn}; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const result = await run(["bash", "--norc", "--noprofile", "-c", script], { env });
  equal(result.code, 0, result.stderr);
  return result.stdout.split("\n").filter((line) => line !== "").sort();
}

Deno.test("completions: the committed files are the generated ones", async () => {
  for (const binary of ["spa-server", "spa-client"] as const) {
    equal(
      await Deno.readTextFile(`${DIR}/${binary}`),
      await completionScript(binary),
      `${binary}: run packaging/make_completions.ts`,
    );
  }
});

Deno.test("completions: bash completes commands, options and values", async () => {
  deepEqual(await complete("spa-server", [""]), [
    "--help",
    "--version",
    "check-config",
    "run",
    "status",
  ]);
  deepEqual(await complete("spa-server", ["run", "--log-format", ""]), ["json", "text"]);
  deepEqual(await complete("spa-server", ["status", "--j"]), ["--json"]);
  deepEqual(await complete("spa-client", ["--tr"]), ["--transport"]);
  deepEqual(await complete("spa-client", ["--transport", ""]), ["syn", "udp"]);
  deepEqual(await complete("spa-client", ["check", "--a"]), ["--all"]);
  deepEqual(await complete("spa-client", ["keygen", "--o"]), ["--out"]);
  deepEqual(await complete("spa-client", ["--host", "w", "--", "ss"]), []);
});

Deno.test("completions: --host offers the client config's hosts", async () => {
  const home = await Deno.makeTempDir({ prefix: "spa-shipping-completion-" });
  try {
    await Deno.mkdir(`${home}/.config/spa`, { recursive: true });
    await Deno.copyFile(`${ROOT}/examples/client.toml`, `${home}/.config/spa/client.toml`);
    deepEqual(await complete("spa-client", ["--host", ""], { HOME: home }), ["db1", "web1"]);
    deepEqual(await complete("spa-client", ["check", "--host", "w"], { HOME: home }), ["web1"]);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("parseHelp reads commander's option and command lines", () => {
  const help = parseHelp(
    "Usage: x\n\nOptions:\n  -c, --config <file>  the config\n  --json               JSON\n" +
      "                       (wrapped)\n\nCommands:\n  run [options]  run it\n" +
      "  help [command]  display help\n",
  );
  deepEqual(help, {
    options: [{ names: ["-c", "--config"], value: "file" }, {
      names: ["--json"],
      value: undefined,
    }],
    commands: ["run"],
  });
});
