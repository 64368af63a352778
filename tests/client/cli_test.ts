/**
 * `spa-client`'s command line: help, version, one clear line and exit code 2 for each bad input,
 * exit code 1 for runtime failures; run as shipped (a subprocess with the client's permission
 * flags).
 */

import { equal, match, ok } from "node:assert/strict";
import { makeHome, runClient } from "./_helpers.ts";

const ONE_LINE = /^spa-client: Cannot [^\n]+\n$/;

Deno.test("spa-client --version prints the release and protocol versions", async () => {
  await using home = await makeHome();
  const meta = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  const run = await runClient(home.dir, ["--version"]);
  equal(run.code, 0);
  equal(run.stdout, `spa-client ${meta.version} (protocol 2)\n`);
});

Deno.test("spa-client --help reads like a man page", async () => {
  await using home = await makeHome();
  const run = await runClient(home.dir, ["--help"]);
  equal(run.code, 0);
  for (
    const part of [
      "Usage: spa-client --host HOST",
      "--transport",
      "--via-port",
      "--bind-source",
      "--pad",
      "--timeout",
      "--retries",
      "--uid",
      "--key-file",
      "--json",
      "keygen",
      "resync",
      "check",
      "Examples:",
      "Exit codes:",
      "else 2s",
      "else 3",
    ]
  ) {
    ok(run.stdout.includes(part), `help lacks ${part}`);
  }
  for (const command of ["keygen", "check", "resync"]) {
    const sub = await runClient(home.dir, [command, "--help"]);
    equal(sub.code, 0);
    match(sub.stdout, new RegExp(`Usage: spa-client ${command}`));
  }
});

Deno.test("spa-client: each bad input gets one clear line and exit code 2", async () => {
  await using home = await makeHome();
  await home.writeConfig(9);
  const loose = `${home.dir}/loose.key`;
  await Deno.copyFile(home.keyFile, loose);
  await Deno.chmod(loose, 0o644);
  const cases: [string[], RegExp][] = [
    [
      ["--host", "nowhere", "--port", "22"],
      /Cannot find host "nowhere": it is not in .*client\.toml/,
    ],
    [["--host", "fake", "--port", "70000"], /Cannot use --port 70000: not a port/],
    [["--host", "fake", "--port", "ssh"], /Cannot use --port ssh: not a port/],
    [["--host", "fake", "--timeout", "2"], /Cannot use --timeout: "2" has no unit/],
    [
      ["--host", "fake", "--transport", "icmp"],
      /Cannot use --transport icmp: it must be syn or udp/,
    ],
    [["--host", "fake", "--retries", "-1"], /Cannot parse the command line|Cannot use --retries/],
    [["--host", "fake", "--bind-source", "somewhere"], /Cannot use --bind-source somewhere/],
    [["--host", "fake", "--pad", "5000"], /Cannot use --pad 5000: not an integer from 0 to 1024/],
    [["--frobnicate"], /Cannot parse the command line: unknown option '--frobnicate'/],
    [["--host", "10.77.0.9", "--port", "22", "--uid", "7"], /give its address with --key-file/],
    [
      ["--host", "127.0.0.1", "--port", "22", "--uid", "7", "--key-file", `${home.dir}/none.key`],
      /Cannot use key file .*none\.key: it does not exist/,
    ],
    [
      ["--host", "127.0.0.1", "--port", "22", "--uid", "1000", "--key-file", loose],
      /Cannot use key file .*loose\.key: it is readable by group or others \(mode 0644\); run: chmod 600/,
    ],
    [
      ["--host", "127.0.0.1", "--port", "22", "--uid", "7", "--key-file", home.keyFile],
      /it holds uid 1000, but 127\.0\.0\.1 is configured with uid 7/,
    ],
    [
      ["--config", `${home.dir}/missing.toml`, "--host", "x"],
      /Cannot use config .*missing\.toml: it does not exist/,
    ],
    [["check"], /Cannot check: give either --host HOST or --all/],
    [["check", "--host", "fake", "--", "ssh"], /Cannot run a program after check/],
    [["keygen", "--uid", "1"], /Cannot parse the command line: required option '--name <name>'/],
    [["keygen", "--uid", "x", "--name", "a"], /Cannot use --uid x/],
    [["keygen", "--uid", "1", "--name", "../evil"], /Cannot use --name "..\/evil"/],
  ];
  for (const [args, expected] of cases) {
    const run = await runClient(home.dir, args);
    equal(run.code, 2, `${args.join(" ")}: exit ${run.code}: ${run.stderr}`);
    match(run.stderr, ONE_LINE, `${args.join(" ")}: ${run.stderr}`);
    match(run.stderr, expected, args.join(" "));
    equal(run.stdout, "");
  }
});

Deno.test("spa-client: a bad config file is refused with its problems and exit code 2", async () => {
  await using home = await makeHome();
  await Deno.writeTextFile(home.configPath, `[hosts.web1]\naddress = "x y"\nuid = -1\n`);
  const run = await runClient(home.dir, ["--host", "web1", "--port", "22"]);
  equal(run.code, 2);
  match(run.stderr, /Cannot use config .*client\.toml: 3 problems/);
  match(run.stderr, /hosts\.web1\.address/);
});

Deno.test("spa-client --json reports errors as one JSON object", async () => {
  await using home = await makeHome();
  const run = await runClient(home.dir, ["--host", "nowhere", "--port", "22", "--json"]);
  equal(run.code, 2);
  equal(run.stderr, "");
  const report = JSON.parse(run.stdout);
  equal(report.ok, false);
  equal(report.exitCode, 2);
  match(report.error, /Cannot find host "nowhere"/);
});

Deno.test("spa-client: the syn transport without CAP_NET_RAW says to use --transport udp", async () => {
  const setpriv = await new Deno.Command("sh", { args: ["-c", "command -v setpriv"] }).output();
  if (Deno.uid() !== 0 || !setpriv.success) {
    console.error("skipped: needs root and setpriv to run the client without CAP_NET_RAW");
    return;
  }
  await using home = await makeHome();
  await home.writeConfig(9);
  await Deno.chmod(home.dir, 0o755);
  // Root without any capability: the raw socket is refused as for an ordinary user.
  const run = await runClient(home.dir, [
    "--host",
    "fake",
    "--transport",
    "syn",
  ], ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"]);
  equal(run.code, 1, run.stderr);
  match(run.stderr, ONE_LINE);
  match(run.stderr, /needs root or CAP_NET_RAW; run as root, or use --transport udp/);
});
