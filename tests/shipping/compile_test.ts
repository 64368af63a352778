/**
 * `deno task compile` (scripts/compile.ts): each binary is `deno compile` of the `deno bundle`
 * build of its entry point (scripts/bundle.ts; that the bundles run: bundle_test.ts), the command
 * lines carry exactly the permission table's flags, `--server-config` bakes a config's folders and
 * commands, a failed runtime download ends in one clear line, and — with Deno itself standing in
 * for the runtime it cannot download here — `deno compile` accepts those exact lines and embeds
 * the bundle alone and exactly those permissions in the binary.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { bundleArgs, bundleEntry } from "../../scripts/bundle.ts";
import {
  BUNDLE_DIR,
  type CompileJob,
  compileJobs,
  ENTRY_POINTS,
  isRuntimeDownloadFailure,
  shellLine,
  TARGETS,
} from "../../scripts/compile.ts";
import {
  clientPermissionFlags,
  DEFAULT_SERVER_LOCATIONS,
  serverPermissionFlags,
} from "../../lib/permissions.ts";
import { deno, ROOT, serverDirs } from "./_helpers.ts";

/** The task's own flags, from deno.json. */
async function taskArgv(): Promise<string[]> {
  const meta = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`)) as {
    tasks: Record<string, { command: string }>;
  };
  const task = meta.tasks.compile!.command;
  ok(task.startsWith("deno run "), task);
  return task.split(" ").slice(1);
}

/** The permission flags of one `deno compile ...` line: every `--no-prompt`/`--allow-*`/`--deny-*`. */
function permissionFlagsOf(args: readonly string[]): string[] {
  return args.filter((a) => a === "--no-prompt" || /^--(allow|deny)-/.test(a));
}

Deno.test("compileJobs: both binaries for both targets, each from its bundle with exactly its flags", () => {
  const jobs = compileJobs(DEFAULT_SERVER_LOCATIONS);
  equal(jobs.length, 4);
  const outputs = new Set(jobs.map((job) => job.output));
  equal(outputs.size, 4, "every output has its own name");
  for (const job of jobs) {
    equal(job.output, `dist/${job.binary}-${job.target}`);
    equal(job.bundle, `dist/${BUNDLE_DIR}/${job.binary}.js`);
    deepEqual(job.bundleArgs, bundleArgs(ENTRY_POINTS[job.binary], job.bundle));
    ok(TARGETS.includes(job.target));
    const expected = job.binary === "spa-server"
      ? serverPermissionFlags(DEFAULT_SERVER_LOCATIONS)
      : clientPermissionFlags();
    deepEqual(permissionFlagsOf(job.args), expected);
    equal(job.args[0], "compile");
    equal(job.args.at(-1), job.bundle, "the bundle, and nothing after it is baked");
    deepEqual(job.args.slice(1, 5), ["--target", job.target, "--output", job.output]);
  }
});

Deno.test("deno task compile --dry-run prints each bundle line, then exactly the permission table's flags", async () => {
  const result = await deno([...await taskArgv(), "--dry-run"]);
  equal(result.code, 0, result.stderr);
  const lines = result.stdout.split("\n").filter((line) => line.startsWith("deno "));
  equal(lines.length, 8, result.stdout);
  const seen = new Set<string>();
  for (let i = 0; i < lines.length; i += 2) {
    const bundle = lines[i]!.split(" ").slice(1);
    const args = lines[i + 1]!.split(" ").slice(1);
    equal(bundle[0], "bundle", lines[i]);
    equal(args[0], "compile", lines[i + 1]);
    const target = args[args.indexOf("--target") + 1]!;
    const entry = args.at(-1)!;
    const binary = entry === `dist/${BUNDLE_DIR}/spa-server.js` ? "spa-server" : "spa-client";
    equal(entry, `dist/${BUNDLE_DIR}/${binary}.js`);
    deepEqual(bundle, bundleArgs(ENTRY_POINTS[binary], entry), "the line before writes it");
    seen.add(`${binary} ${target}`);
    deepEqual(
      permissionFlagsOf(args),
      binary === "spa-server"
        ? serverPermissionFlags(DEFAULT_SERVER_LOCATIONS)
        : clientPermissionFlags(),
      lines[i + 1],
    );
  }
  deepEqual(
    [...seen].sort(),
    TARGETS.flatMap((t) => [`spa-client ${t}`, `spa-server ${t}`]).sort(),
  );
  match(result.stdout, /^# runtime for x86_64-unknown-linux-gnu: /m);
});

Deno.test("deno task compile --server-config bakes the config's folders and commands", async (t) => {
  const dirs = await serverDirs();
  try {
    await Deno.writeTextFile(
      dirs.configPath,
      (await Deno.readTextFile(dirs.configPath)) +
        `[ports."tcp/22"]\non_open = ["logger", "open"]\non_close = ["/usr/local/bin/notify"]\n`,
    );
    await t.step("its folder, state_dir and on_open/on_close programs", async () => {
      const result = await deno([
        ...await taskArgv(),
        "--dry-run",
        "--target",
        "aarch64-unknown-linux-gnu",
        "--server-config",
        dirs.configPath,
      ]);
      equal(result.code, 0, result.stderr);
      const server = result.stdout.split("\n").find((line) =>
        line.startsWith("deno compile ") && line.endsWith("/spa-server.js")
      )!;
      deepEqual(
        permissionFlagsOf(server.split(" ")),
        serverPermissionFlags({
          configDir: dirs.configDir,
          stateDir: dirs.stateDir,
          commands: ["logger", "/usr/local/bin/notify"],
        }),
      );
      match(server, /--allow-run=nft,logger,\/usr\/local\/bin\/notify /);
    });

    await t.step("a key file outside the config folder is refused (exit 2)", async () => {
      const outside = await serverDirs({ keyFile: `${dirs.otherDir}/alice.key` });
      try {
        const result = await deno([
          ...await taskArgv(),
          "--dry-run",
          "--server-config",
          outside.configPath,
        ]);
        equal(result.code, 2);
        equal(result.stdout, "");
        match(
          result.stderr,
          /users\[0\]\.key_file: .*\/other\/alice\.key is outside .*\/etc, the only folder/,
        );
      } finally {
        await Deno.remove(outside.dir, { recursive: true });
      }
    });

    await t.step("an unknown target is a usage error", async () => {
      const result = await deno([...await taskArgv(), "--dry-run", "--target", "mips"]);
      equal(result.code, 2);
      match(result.stderr, /Cannot build for mips: targets are x86_64-unknown-linux-gnu, /);
    });
  } finally {
    await Deno.remove(dirs.dir, { recursive: true });
  }
});

Deno.test("deno task compile: a runtime download failure is one clear line, exit 1", async () => {
  const out = await Deno.makeTempDir({ prefix: "spa-shipping-dist-" });
  try {
    const argv = await taskArgv();
    const result = await deno(
      [
        ...argv.map((a) => (a === "--allow-write=dist" ? `--allow-write=${out}` : a)),
        "--target",
        "x86_64-unknown-linux-gnu",
        "--out",
        out,
      ],
      // A proxy on a closed local port makes the download fail whatever the network.
      { env: { HTTPS_PROXY: "http://127.0.0.1:9", HTTP_PROXY: "http://127.0.0.1:9" } },
    );
    if (result.code === 0) {
      console.log("skipped: deno's runtime is cached, so compile did not need to download it");
      return;
    }
    equal(result.code, 1, result.stderr);
    const lines = result.stderr.trim().split("\n");
    equal(lines.length, 3, result.stderr); // the bundle's and the compile's progress, the reason
    match(lines[0]!, /^compile: bundle server\.ts -> .*\/\.bundle\/spa-server\.js$/);
    match(
      lines[2]!,
      /^compile: Cannot compile spa-server for x86_64-unknown-linux-gnu: deno could not download its runtime \(denort-x86_64-unknown-linux-gnu\.zip\); .* put that zip in \/.*\/dl\/release\/v\d+\.\d+\.\d+\/$/,
    );
    deepEqual([...Deno.readDirSync(out)], [], "no partial output, no SHA256SUMS, no bundle");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("isRuntimeDownloadFailure and shellLine", () => {
  ok(isRuntimeDownloadFailure(
    "error: Writing deno compile executable to temporary file 'x'\n\nCaused by:\n" +
      "    0: Setting up base binary.\n    1: error sending request for url " +
      "(https://example.invalid/denort-x86_64-unknown-linux-gnu.zip): client error (Connect)",
  ));
  ok(!isRuntimeDownloadFailure("error: TS2322 [ERROR]: Type 'string' is not assignable"));
  equal(shellLine(["deno", "--allow-read=/a,/b", "it's"]), `deno --allow-read=/a,/b 'it'\\''s'`);
});

/** The JSON object after `"permissions":` in a compiled binary's embedded metadata. */
function embeddedPermissions(binary: Uint8Array): Record<string, unknown> {
  const text = new TextDecoder("latin1").decode(binary);
  const start = text.indexOf(`"permissions":{`);
  ok(start >= 0, "no permissions in the embedded metadata");
  let depth = 0;
  const from = start + `"permissions":`.length;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) {
      return JSON.parse(text.slice(from, i + 1)) as Record<string, unknown>;
    }
  }
  throw new Error("Cannot find the end of the permissions object");
}

/** Parses flags back into the shape deno compile embeds: `--allow-x=a,b` → `allow_x: [a, b]`. */
function expectedPermissions(flags: readonly string[]): Record<string, unknown> {
  const expected: Record<string, unknown> = { prompt: false };
  for (const flag of flags) {
    const m = /^--((?:allow|deny)-[a-z]+)(?:=(.*))?$/.exec(flag);
    if (m) expected[m[1]!.replace("-", "_")] = m[2] === undefined ? [] : m[2].split(",");
  }
  return expected;
}

Deno.test({
  name: "deno compile embeds exactly the table's permissions (Deno standing in for its runtime)",
  async fn(t) {
    const out = await Deno.makeTempDir({ prefix: "spa-shipping-stand-in-" });
    try {
      // DENORT_BIN makes deno compile take that file as the runtime instead of downloading it;
      // Deno itself is not a working runtime, but the command line, the embedded files and the
      // permission metadata are exactly what a real build produces.
      for (const job of compileJobs(DEFAULT_SERVER_LOCATIONS, TARGETS, out)) {
        await t.step(`${job.binary} for ${job.target}`, async () => {
          await bundleEntry(ENTRY_POINTS[job.binary], job.bundle);
          await checkStandIn(job);
        });
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

async function checkStandIn(job: CompileJob): Promise<void> {
  const result = await deno(job.args, { env: { DENORT_BIN: Deno.execPath() } });
  equal(result.code, 0, result.stderr);
  // The listing of embedded files: the bundle alone, no node_modules and no npm package.
  const embedded = result.stderr.split("\n").filter((line) => /[├└]── /.test(line));
  equal(embedded.length, 1, result.stderr);
  ok(embedded[0]!.includes(`${job.binary}.js (`), result.stderr);
  ok(!result.stderr.includes("node_modules"), result.stderr);
  const bundle = await Deno.readTextFile(job.bundle);
  // esbuild heads each inlined module with a comment naming its path: the npm packages in it are
  // smol-toml alone (commander is no longer used; fast-check and @types/node serve the tests).
  const packages = new Set(
    [...bundle.matchAll(/^\/\/ node_modules\/\.deno\/([^/]+)@\d[^/]*\//gm)].map((m) => m[1]),
  );
  deepEqual([...packages], ["smol-toml"]);
  const permissions = embeddedPermissions(await Deno.readFile(job.output));
  const expected = expectedPermissions(job.permissions);
  for (const key of Object.keys(expected)) ok(key in permissions, `${job.binary}: ${key} missing`);
  for (const [key, value] of Object.entries(permissions)) {
    if (key === "allow_import") continue; // Deno's default import hosts; nothing is imported
    deepEqual(value, expected[key] ?? null, `${job.binary}: ${key}`);
  }
  await Deno.remove(job.output);
}
