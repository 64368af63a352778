/**
 * The bundles `deno task compile` embeds (scripts/bundle.ts, written where `compileJobs` puts
 * them) work on their own: copied away from the repository and run from another folder with the
 * binary's baked flags (lib/permissions.ts), each answers as its source does (`--version`,
 * `--help`, usage errors), and the paths that load modules lazily (`keygen`, `provision`, a udp
 * knock running a program) and parse TOML with the inlined smol-toml (`spa-server check-config`)
 * work. A bundle that reached
 * for a file beside its source (`import.meta.url`), left a dynamic import out or imported an npm
 * package it did not inline fails here.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { bundleEntry, BundleError } from "../../scripts/bundle.ts";
import { compileJobs, ENTRY_POINTS } from "../../scripts/compile.ts";
import { clientFlags, DEFAULT_SERVER_LOCATIONS, serverFlags } from "../../lib/permissions.ts";
import { netnsSkipReason } from "../../harness/topology.ts";
import { makeHome, startPipelineServer } from "../client/_helpers.ts";
import { deno, ROOT, type Run, serverDirs } from "./_helpers.ts";

Deno.test("the bundles deno task compile embeds run like their sources, away from the repository", async (t) => {
  const build = await Deno.makeTempDir({ prefix: "spa-shipping-bundle-" });
  const away = await Deno.makeTempDir({ prefix: "spa-shipping-away-" });
  const dirs = await serverDirs();
  try {
    const jobs = compileJobs(DEFAULT_SERVER_LOCATIONS, ["x86_64-unknown-linux-gnu"], build);
    const bundles = new Map<string, string>();
    for (const job of jobs) {
      await bundleEntry(ENTRY_POINTS[job.binary], job.bundle);
      equal(job.args.at(-1), job.bundle, "deno compile embeds the file just bundled");
      // Away from the repository, as in a binary: no deno.json, no node_modules, no sources.
      const copy = `${away}/${job.binary}.js`;
      await Deno.copyFile(job.bundle, copy);
      bundles.set(job.binary, copy);
    }
    const clientBundle = bundles.get("spa-client")!;
    const serverBundle = bundles.get("spa-server")!;
    const env = { HOME: dirs.dir };
    const client = (entry: string, args: string[]) =>
      deno(["run", ...clientFlags(), entry, ...args], { cwd: away, env });
    const flags = serverFlags({
      ...DEFAULT_SERVER_LOCATIONS,
      configDir: dirs.configDir,
      stateDir: dirs.stateDir,
    });
    const server = (entry: string, args: string[]) =>
      deno(["run", ...flags, entry, ...args], { cwd: away, env });
    const same = (bundled: Run, source: Run, what: string) => {
      deepEqual(bundled, source, `${what}: the bundle answers as its source`);
    };

    await t.step("spa-client --version, --help, a subcommand's help, a usage error", async () => {
      for (const args of [["--version"], ["--help"], ["keygen", "--help"], ["--bogus"]]) {
        const bundled = await client(clientBundle, args);
        same(bundled, await client(`${ROOT}/client.ts`, args), `spa-client ${args.join(" ")}`);
        equal(bundled.code, args[0] === "--bogus" ? 2 : 0, bundled.stderr);
      }
      match((await client(clientBundle, ["--version"])).stdout, /^spa-client \d+\.\d+\.\d+ /);
    });

    await t.step("spa-server --version, --help, check-config", async () => {
      for (
        const args of [["--version"], ["--help"], ["check-config", "--config", dirs.configPath]]
      ) {
        const bundled = await server(serverBundle, args);
        same(bundled, await server(`${ROOT}/server.ts`, args), `spa-server ${args.join(" ")}`);
        equal(bundled.code, 0, bundled.stderr);
      }
    });

    await t.step("keygen, provision (lazily loaded), then check-config of the result", async () => {
      const keys = `${dirs.dir}/keys`;
      const keygen = await client(clientBundle, [
        "keygen",
        "--uid",
        "1000",
        "--name",
        "alice",
        "--host",
        "shipping-test",
        "--address",
        "10.77.0.1",
        "--out",
        keys,
      ]);
      equal(keygen.code, 0, keygen.stderr);
      match(keygen.stdout, /^Wrote .*alice\.key/);
      const provisioned = `${dirs.configDir}/keys/alice.key`;
      await Deno.remove(provisioned);
      const provision = await client(clientBundle, [
        "provision",
        "--host",
        "shipping-test",
        "--uid",
        "1000",
        "--key-file",
        `${keys}/alice.key`,
        "--out",
        provisioned,
      ]);
      equal(provision.code, 0, provision.stderr);
      const check = await server(serverBundle, ["check-config", "--config", dirs.configPath]);
      equal(check.code, 0, check.stderr);
    });

    await t.step(
      "a udp knock (transport and exec loaded lazily), acked and committed",
      async () => {
        await using home = await makeHome();
        await using pipeline = await startPipelineServer(home);
        const knock = await deno(
          ["run", ...clientFlags(), clientBundle, "--host", "fake", "--", "sh", "-c", "exit 7"],
          { cwd: away, env: { HOME: home.dir } },
        );
        equal(knock.code, 7, knock.stderr);
        equal(pipeline.accepted.length, 1);
        equal((await home.state())?.sequence.state, "current");
      },
    );
  } finally {
    await Deno.remove(build, { recursive: true });
    await Deno.remove(away, { recursive: true });
    await Deno.remove(dirs.dir, { recursive: true });
  }
});

Deno.test("bundleEntry: a broken entry point is a BundleError with deno's reason", async () => {
  const dir = await Deno.makeTempDir({ prefix: "spa-shipping-bundle-error-" });
  try {
    await Deno.writeTextFile(`${dir}/broken.ts`, `import { nothing } from "./missing.ts";\n`);
    const error = await bundleEntry(`${dir}/broken.ts`, `${dir}/out.js`).then(
      () => undefined,
      (e: unknown) => e,
    );
    ok(error instanceof BundleError, String(error));
    match(error.message, /^Cannot bundle .*broken\.ts: \S/);
    match(error.stderr, /missing\.ts/, "deno's own diagnostics are kept");
    ok(!error.message.includes("\n"), "one line");
    ok(error.stderr.length > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bundleEntry with no esbuild cached and no network says to run deno task setup", async () => {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.log(`skipped: ${skip}`);
    return;
  }
  // An empty Deno cache (no esbuild) and a network namespace with no route: what a host that
  // skipped `deno task setup` sees offline. `unshare -n` runs a `deno` that bundles.
  const denoDir = await Deno.makeTempDir({ prefix: "spa-shipping-no-esbuild-" });
  const wrapper = `${denoDir}/deno-offline`;
  try {
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nDENO_DIR=${denoDir} exec unshare -n -- ${Deno.execPath()} "$@"\n`,
      { mode: 0o755 },
    );
    const error = await bundleEntry("client.ts", `${denoDir}/out.js`, wrapper).then(
      () => undefined,
      (e: unknown) => e,
    );
    ok(error instanceof BundleError, String(error));
    match(
      error.message,
      /^Cannot bundle client\.ts: deno could not download esbuild \(@esbuild\/[a-z0-9-]+\); run deno task setup where the npm registry is reachable$/,
    );
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
});
