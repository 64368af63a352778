/**
 * spa never fetches a module at run time: npm packages resolve from `./node_modules`, which
 * `deno task setup` (`deno install --frozen`) fills from `deno.lock`, and every `deno` command of
 * the project runs with `MODULE_FLAGS` (`--cached-only --frozen`). So the client, the server and
 * the type check work on a host with no network and an empty Deno cache, and print nothing about
 * downloads.
 *
 * The failure this guards against was seen on a fresh machine: with Deno's global npm cache, a
 * package cached without its registry metadata (`registry.json`) made every `spa-client keygen`
 * ask the registry again and print `Download …` before its own output, and `deno check` of a file
 * importing fast-check did the same on every run.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { clientArgv } from "../client/_helpers.ts";
import { DEFAULT_SERVER_LOCATIONS, MODULE_FLAGS, serverFlags } from "../../lib/permissions.ts";
import { netnsSkipReason } from "../../harness/topology.ts";
import { deno, ROOT, type Run, run } from "./_helpers.ts";

const DENO_JSON = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
  tasks: Record<string, string | { command: string; dependencies?: string[] }>;
};

/** The command line of a deno.json task, in either of its two forms. */
function command(task: string | { command: string }): string {
  return typeof task === "string" ? task : task.command;
}

Deno.test("deno.json: every task that resolves modules uses MODULE_FLAGS after `setup`", () => {
  ok(command(DENO_JSON.tasks.setup!).includes("deno install --frozen"));
  let resolving = 0;
  for (const [name, task] of Object.entries(DENO_JSON.tasks)) {
    for (const match of command(task).matchAll(/\bdeno (run|test|check|compile|eval)\b[^&|;]*/g)) {
      resolving++;
      for (const flag of MODULE_FLAGS) ok(match[0].includes(flag), `task ${name} lacks ${flag}`);
      ok(
        typeof task !== "string" && task.dependencies?.includes("setup"),
        `task ${name} must depend on setup, so it works on a fresh clone`,
      );
    }
  }
  ok(resolving >= 5, "test, check, demo, bench and compile resolve modules");
});

Deno.test("every spawned deno run of the tests, benchmarks and scripts uses MODULE_FLAGS", async () => {
  // A spawn with Deno.execPath() and "run"/"eval" must take its flags from lib/permissions.ts.
  const from = /\b(MODULE_FLAGS|serverFlags|clientFlags|clientArgv|serverArgv)\b/;
  const offenders: string[] = [];
  for (const dir of ["tests", "bench", "scripts", "packaging"]) {
    for await (const path of walk(`${ROOT}/${dir}`)) {
      const text = await Deno.readTextFile(path);
      if (!/Deno\.execPath\(\)/.test(text) || !/"(run|eval)"/.test(text)) continue;
      if (!from.test(text)) offenders.push(path.slice(ROOT.length + 1));
    }
  }
  equal(offenders.join(", "), "");
});

Deno.test("offline, with an empty Deno cache: client, server and type check need no download", async (t) => {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.log(`skipped: ${skip}`);
    return;
  }
  // npm packages resolve from ./node_modules (`nodeModulesDir: "manual"`, filled by
  // `deno task setup`), never from Deno's global cache or the registry: so an empty DENO_DIR and
  // a network namespace with nothing but a loopback that is down (`unshare -n`) must do.
  const denoDir = await Deno.makeTempDir({ prefix: "spa-offline-deno-" });
  const home = await Deno.makeTempDir({ prefix: "spa-offline-home-" });
  try {
    const offline = (argv: readonly string[]): Promise<Run> =>
      run(["unshare", "-n", "--", Deno.execPath(), ...argv], {
        env: { HOME: home, DENO_DIR: denoDir },
      });

    await t.step("spa-client keygen", async () => {
      const result = await offline(clientArgv([
        "keygen",
        "--uid",
        "1000",
        "--name",
        "alice",
        "--host",
        "web1",
        "--address",
        "10.77.0.1",
        "--out",
        `${home}/keys`,
      ]));
      equal(result.stderr, "");
      equal(result.code, 0);
      match(result.stdout, /^Wrote .*alice\.key/);
    });

    await t.step("spa-client provision, then spa-server check-config", async () => {
      const key = `${home}/server-keys/alice.key`;
      await Deno.mkdir(`${home}/server-keys`, { mode: 0o700 });
      const provisioned = await offline(clientArgv([
        "provision",
        "--host",
        "web1",
        "--uid",
        "1000",
        "--key-file",
        `${home}/keys/alice.key`,
        "--out",
        key,
      ]));
      equal(provisioned.stderr, "");
      equal(provisioned.code, 0);
      const config = `${home}/server.toml`;
      await Deno.writeTextFile(
        config,
        `server_id = "web1"\nstate_dir = ${JSON.stringify(`${home}/state`)}\n` +
          `[[users]]\nname = "alice"\nuid = 1000\nkey_file = ${JSON.stringify(key)}\n` +
          `ports = ["tcp/22"]\n`,
      );
      await Deno.mkdir(`${home}/state`);
      const flags = serverFlags({ ...DEFAULT_SERVER_LOCATIONS, configDir: home, stateDir: home });
      const result = await offline([
        "run",
        ...flags,
        `${ROOT}/server.ts`,
        "check-config",
        "--config",
        config,
      ]);
      equal(result.stderr, "");
      equal(result.code, 0);
    });

    await t.step(
      "deno check of a test importing fast-check (Deno 2.9 fetched its metadata)",
      async () => {
        const result = await offline([
          "check",
          ...MODULE_FLAGS,
          `${ROOT}/tests/protocol/open_test.ts`,
        ]);
        equal(result.code, 0, result.stderr);
        ok(!/Download/.test(result.stderr), result.stderr);
      },
    );
  } finally {
    await Deno.remove(denoDir, { recursive: true });
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("deno task compile --dry-run: both binaries embed modules from the cache only", async () => {
  const result = await deno(["task", "compile", "--dry-run"]);
  equal(result.code, 0, result.stderr);
  const lines = result.stdout.split("\n").filter((line) => line.startsWith("deno compile "));
  equal(lines.length, 4);
  for (const line of lines) for (const flag of MODULE_FLAGS) ok(line.includes(flag), line);
});

/** Every file below `dir`. */
async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}
