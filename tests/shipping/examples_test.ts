/**
 * The examples under `examples/` are valid and honest: `server.toml` passes the real
 * `spa-server check-config` (with a key made by the real `spa-client keygen`, as the install guide
 * does) under the shipped permission set, and its commented defaults are the real defaults;
 * `client.toml` passes the client config schema; the crontab line is accepted by the real client.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parse } from "smol-toml";
import { CLIENT_HOST_DEFAULTS, parseClientConfig } from "../../lib/config/client.ts";
import { parseServerConfig, SERVER_DEFAULTS, serverCommands } from "../../lib/config/server.ts";
import { DEFAULT_SERVER_LOCATIONS, serverFlags } from "../../lib/permissions.ts";
import { runClient } from "../client/_helpers.ts";
import { deno, ROOT } from "./_helpers.ts";

const SERVER_EXAMPLE = `${ROOT}/examples/server.toml`;
const CLIENT_EXAMPLE = `${ROOT}/examples/client.toml`;
const CRONTAB = `${ROOT}/examples/crontab`;

/** The value `key = value` (or `# key = value`) gives in `text`, parsed as TOML. */
function documented(text: string, key: string): unknown {
  const line = new RegExp(`^(?:# )?${key} = (.+?)(?:\\s+#.*)?$`, "m").exec(text);
  ok(line !== null, `${key} is not documented`);
  return parse(`v = ${line[1]}`).v;
}

/** Uncomments the example's `on_open`/`on_close` lines. */
function withCommands(text: string): string {
  return text.replace(/^# (on_(open|close) = )/gm, "$1");
}

Deno.test("examples/server.toml: every setting with its real default", async () => {
  const text = await Deno.readTextFile(SERVER_EXAMPLE);
  for (const [key, value] of Object.entries(SERVER_DEFAULTS)) {
    if (key === "rate_limit") {
      for (const [inner, limit] of Object.entries(value)) deepEqual(documented(text, inner), limit);
    } else if (key !== "sources" && key !== "require_source_binding") {
      deepEqual(documented(text, key), value, key);
    }
  }
  deepEqual(documented(text, "sources"), SERVER_DEFAULTS.sources);
  deepEqual(documented(text, "require_source_binding"), SERVER_DEFAULTS.require_source_binding);
});

Deno.test("examples/server.toml: the shipped binary can use it as installed", async () => {
  const text = await Deno.readTextFile(SERVER_EXAMPLE);
  for (const variant of [text, withCommands(text)]) {
    const config = parseServerConfig(variant, { path: "/etc/spa/server.toml" });
    equal(config.stateDir, DEFAULT_SERVER_LOCATIONS.stateDir);
    for (const user of config.users) {
      ok(user.keyFile.startsWith(`${DEFAULT_SERVER_LOCATIONS.configDir}/`), user.keyFile);
    }
    for (const program of serverCommands(config)) {
      ok(DEFAULT_SERVER_LOCATIONS.commands.includes(program), `${program} is not allowed`);
    }
  }
  ok(withCommands(text) !== text, "the example shows on_open/on_close");
});

Deno.test("examples/server.toml passes spa-server check-config with a keygen key", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "spa-shipping-example-" });
  const home = `${dir}/home`;
  const configDir = `${dir}/etc/spa`;
  const stateDir = `${dir}/var/lib/spa`;
  try {
    await Deno.mkdir(home);
    await Deno.mkdir(`${configDir}/keys`, { recursive: true, mode: 0o700 });
    // On the client: spa-client keygen, then provision the server's own key (server_id "web1",
    // as in the example), which goes to the server's keys folder, mode 0600.
    const keygen = await runClient(home, ["keygen", "--uid", "1000", "--name", "alice"]);
    equal(keygen.code, 0, keygen.stderr);
    const key = `${configDir}/keys/alice.key`;
    const provision = (serverId: string, out: string) =>
      runClient(home, [
        "provision",
        "--host",
        serverId,
        "--uid",
        "1000",
        "--key-file",
        `${home}/.config/spa/keys/alice.key`,
        "--out",
        out,
      ]);
    const provisioned = await provision("web1", key);
    equal(provisioned.code, 0, provisioned.stderr);
    equal((await Deno.stat(key)).mode! & 0o777, 0o600);
    const example = await Deno.readTextFile(SERVER_EXAMPLE);
    ok(example.includes(`state_dir = "/var/lib/spa"`));
    const flags = serverFlags({ ...DEFAULT_SERVER_LOCATIONS, configDir, stateDir });
    for (
      const [name, text] of [["as shipped", example], [
        "with on_open",
        withCommands(example),
      ]] as const
    ) {
      await t.step(name, async () => {
        const config = `${configDir}/server.toml`;
        await Deno.writeTextFile(config, text.replace(`"/var/lib/spa"`, JSON.stringify(stateDir)));
        const result = await deno([
          "run",
          ...flags,
          `${ROOT}/server.ts`,
          "check-config",
          "--config",
          config,
        ]);
        equal(result.code, 0, result.stderr);
        equal(result.stdout.trim(), `${config}: ok (1 users, ports tcp/22)`);
      });
    }
    await t.step("and check-config refuses a key provisioned for another server_id", async () => {
      const other = `${configDir}/keys/web2.key`;
      equal((await provision("web2", other)).code, 0);
      const config = `${configDir}/server.toml`;
      const text = await Deno.readTextFile(config);
      await Deno.writeTextFile(
        `${configDir}/web2.toml`,
        text.replace(`key_file = "keys/alice.key"`, `key_file = "keys/web2.key"`),
      );
      const result = await deno([
        "run",
        ...flags,
        `${ROOT}/server.ts`,
        "check-config",
        "--config",
        `${configDir}/web2.toml`,
      ]);
      equal(result.code, 2);
      match(result.stderr, /it is the key of server_id "web2", not of "web1"/);
    });
    await t.step("and check-config fails once the key is readable by others", async () => {
      await Deno.chmod(key, 0o644);
      const result = await deno([
        "run",
        ...flags,
        `${ROOT}/server.ts`,
        "check-config",
        "--config",
        `${configDir}/server.toml`,
      ]);
      equal(result.code, 2);
      match(result.stderr, /users\[0\]\.key_file: Cannot use key file .*alice\.key/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/client.toml: valid, with its real defaults", async () => {
  const text = await Deno.readTextFile(CLIENT_EXAMPLE);
  const env = (name: string) => (name === "HOME" ? "/home/alice" : undefined);
  const config = parseClientConfig(text, { env, path: "/home/alice/.config/spa/client.toml" });
  equal(config.stateDir, "/home/alice/.local/state/spa");
  deepEqual(config.hosts.map((h) => h.name), ["web1", "db1"]);
  const web1 = config.hosts[0]!;
  equal(web1.address, "203.0.113.5");
  equal(web1.keyFile, "/home/alice/.config/spa/keys/alice.key");
  equal(web1.port, 22);
  deepEqual(web1.exec, ["ssh", "-p", "{port}", "alice@{address}"]);
  equal(config.hosts[1]!.transport, "udp");
  for (const [key, value] of Object.entries(CLIENT_HOST_DEFAULTS)) {
    deepEqual(documented(text, key), value, key);
  }
  deepEqual(documented(text, "state_dir"), "~/.local/state/spa");
});

Deno.test("examples/crontab: a valid schedule running a command the client accepts", async () => {
  const text = await Deno.readTextFile(CRONTAB);
  const entries = text.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("#"));
  equal(entries.length, 1);
  const fields = entries[0]!.split(/\s+/);
  const field = /^(\*|\d+(-\d+)?)(\/\d+)?(,(\*|\d+(-\d+)?)(\/\d+)?)*$/;
  for (const time of fields.slice(0, 5)) match(time, field);
  const [program, ...args] = fields.slice(5);
  equal(program, "/usr/local/bin/spa-client");
  deepEqual(args.slice(0, 2), ["check", "--all"]);
  // With no hosts configured, the client parses the line and stops before sending anything.
  const home = await Deno.makeTempDir({ prefix: "spa-shipping-cron-" });
  try {
    const result = await runClient(home, args);
    equal(result.code, 2, result.stderr);
    match(result.stderr, /Cannot check --all: the config has no hosts/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
