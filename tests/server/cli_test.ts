/**
 * spa-server's command line, run as a subprocess under its shipped permission flags: check-config
 * accepts a good config and refuses each kind of bad one with its own line; status reads the
 * status file; usage errors exit 2.
 */

import { equal, match, ok } from "node:assert/strict";
import { serverArgv, writeServerSetup } from "../../harness/spa_server.ts";

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, ...args] = argv;
  const out = await new Deno.Command(cmd!, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("spa-server check-config: a good config passes; each bad value gets its own line and exit 2", async (t) => {
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
  });
  try {
    const good = await Deno.readTextFile(setup.configPath);
    await t.step("good", async () => {
      const result = await run(serverArgv(setup, "check-config", "--config", setup.configPath));
      equal(result.code, 0, result.stderr);
      match(result.stdout, /ok \(1 users, ports tcp\/22\)/);
    });
    const cases: [string, (text: string) => string, RegExp][] = [
      ["unknown key", (s) => s + "\nfrobnicate = 1\n", /frobnicate: unknown key/],
      [
        "bad duration",
        (s) => s.replace('idle_timeout = "5m"', 'idle_timeout = "5 parsecs"'),
        /idle_timeout/,
      ],
      [
        "bad port",
        (s) => s.replace('ports = ["tcp/22"]', 'ports = ["tcp/99999"]'),
        /users\[0\]\.ports\[0\].*99999/,
      ],
      [
        "bad source",
        (s) => s.replace('["0.0.0.0/0","::/0"]', '["10.0.0.1/33"]'),
        /users\[0\]\.sources\[0\]/,
      ],
      ["bad firewall", (s) => s.replace('firewall = "nft"', 'firewall = "iptables"'), /firewall/],
      [
        "duplicate uid",
        (s) => s + s.slice(s.indexOf("[[users]]")).replace('name = "alice"', 'name = "bob"'),
        /uid/,
      ],
      ["missing key file", (s) => s.replace("keys/alice.key", "keys/nobody.key"), /nobody\.key/],
      ["not TOML", () => "this is = = not toml", /server\.toml/],
    ];
    for (const [name, edit, expected] of cases) {
      await t.step(name, async () => {
        await Deno.writeTextFile(setup.configPath, edit(good));
        const result = await run(serverArgv(setup, "check-config", "--config", setup.configPath));
        equal(result.code, 2, `${name}: ${result.stderr}`);
        match(result.stderr, expected);
        ok(!result.stderr.includes("Error:"), "no stack traces");
      });
    }
    await t.step("a key file readable by others is refused", async () => {
      await Deno.writeTextFile(setup.configPath, good);
      await Deno.chmod(`${setup.configDir}/keys/alice.key`, 0o644);
      const result = await run(serverArgv(setup, "check-config", "--config", setup.configPath));
      equal(result.code, 2);
      match(result.stderr, /readable by group or others \(mode 0644\)/);
      await Deno.chmod(`${setup.configDir}/keys/alice.key`, 0o600);
    });
  } finally {
    await Deno.remove(setup.dir, { recursive: true });
  }
});

Deno.test("spa-server status: not running without a status file; usage errors exit 2", async () => {
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
  });
  try {
    const status = await run(serverArgv(setup, "status", "--config", setup.configPath));
    equal(status.code, 1);
    match(status.stderr, /not running/);
    const usage = await run(serverArgv(setup, "--no-such-option"));
    equal(usage.code, 2);
    const help = await run(serverArgv(setup, "--help"));
    equal(help.code, 0);
    match(help.stdout, /Exit codes:/);
  } finally {
    await Deno.remove(setup.dir, { recursive: true });
  }
});
