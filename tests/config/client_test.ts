import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import {
  defaultClientConfigPath,
  defaultClientStateDir,
  expandExec,
  findHost,
  loadClientConfig,
  parseBindSource,
  parseClientConfig,
} from "../../lib/config/client.ts";
import { ConfigError } from "../../lib/config/config_error.ts";

const env = (vars: Record<string, string>) => (name: string): string | undefined => vars[name];
const HOME = env({ HOME: "/home/alice" });

function problemsOf(text: string, lookup = HOME, path?: string): string[] {
  try {
    parseClientConfig(text, path === undefined ? { env: lookup } : { env: lookup, path });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.problems];
  }
  throw new Error("accepted a bad config");
}

Deno.test("default paths follow XDG, falling back to HOME", () => {
  equal(defaultClientConfigPath(HOME), "/home/alice/.config/spa/client.toml");
  equal(defaultClientStateDir(HOME), "/home/alice/.local/state/spa");
  const xdg = env({ HOME: "/home/alice", XDG_CONFIG_HOME: "/cfg/", XDG_STATE_HOME: "/st" });
  equal(defaultClientConfigPath(xdg), "/cfg/spa/client.toml");
  equal(defaultClientStateDir(xdg), "/st/spa");
  const relativeXdg = env({ HOME: "/h", XDG_STATE_HOME: "relative" });
  equal(
    defaultClientStateDir(relativeXdg),
    "/h/.local/state/spa",
    "a relative XDG value is ignored",
  );
  throws(() => defaultClientConfigPath(env({})), {
    name: "ConfigError",
    message: "Cannot use config: neither XDG_CONFIG_HOME nor HOME is set",
  });
});

Deno.test("parseClientConfig reads hosts with defaults", () => {
  const config = parseClientConfig(
    `
[hosts.web1]
address = "203.0.113.5"
uid = 1000
key_file = "~/.config/spa/keys/alice.key"
port = 22
exec = ["ssh", "alice@{address}"]

[hosts.db]
address = "DB.Example.com"
server_id = "db-2"
uid = 7
key_file = "keys/db.key"
transport = "udp"
via_port = 443
bind_source = "2001:DB8::7"
pad = 64
timeout = "500ms"
retries = 0
`,
    { env: HOME, path: "/home/alice/.config/spa/client.toml" },
  );
  equal(config.stateDir, "/home/alice/.local/state/spa");
  equal(config.path, "/home/alice/.config/spa/client.toml");
  deepEqual(findHost(config, "web1"), {
    name: "web1",
    address: "203.0.113.5",
    serverId: "web1",
    uid: 1000,
    keyFile: "/home/alice/.config/spa/keys/alice.key",
    port: 22,
    transport: "syn",
    exec: ["ssh", "alice@{address}"],
    viaPort: undefined,
    bindSource: { mode: "auto" },
    pad: 0,
    timeoutMs: 2000,
    retries: 3,
  });
  const db = findHost(config, "db")!;
  equal(db.address, "db.example.com");
  equal(db.serverId, "db-2");
  equal(db.keyFile, "/home/alice/.config/spa/keys/db.key");
  equal(db.transport, "udp");
  equal(db.viaPort, 443);
  deepEqual(db.bindSource, { mode: "address", address: "2001:db8::7" });
  equal(db.pad, 64);
  equal(db.timeoutMs, 500);
  equal(db.retries, 0);
  equal(Object.isFrozen(db), true);
  equal(findHost(config, "nope"), undefined);
});

Deno.test("parseClientConfig expands ~ in state_dir and resolves relative paths", () => {
  equal(
    parseClientConfig(`state_dir = "~/spa-state"`, { env: HOME }).stateDir,
    "/home/alice/spa-state",
  );
  equal(
    parseClientConfig(`state_dir = "st"`, { env: HOME, path: "/etc/x/client.toml" }).stateDir,
    "/etc/x/st",
  );
  deepEqual(problemsOf(`state_dir = "~bob/x"`), [`state_dir: "~bob/x": only "~/" is expanded`]);
  deepEqual(problemsOf(`state_dir = "~/x"`, env({})), [
    `state_dir: "~/x" needs HOME, which is not set`,
  ]);
  deepEqual(problemsOf("", env({})), ["state_dir: neither XDG_STATE_HOME nor HOME is set"]);
  equal(parseClientConfig(`state_dir = "/s"`, { env: env({}) }).stateDir, "/s");
});

Deno.test("parseClientConfig reports every problem with its key path", () => {
  deepEqual(
    problemsOf(`
colour = 1
[hosts."web 1"]
address = "999.1.1.1"
uid = -5
key_file = "/k"
port = 70000
transport = "tcp"
exec = ["ssh", "{user}@{address}"]
bind_source = "10.0.0.1"
pad = 5000
timeout = "2"
retries = 1.5
via = 1

[hosts.v6]
address = "fd77::1"
server_id = "v6 server"
uid = 1
key_file = "/k"
bind_source = "10.0.0.1"
exec = "ssh host"

[hosts.empty]
`),
    [
      `hosts."web 1": is not a host name (letters, digits, ".", "_", "-"; at most 64)`,
      `hosts."web 1".address: "999.1.1.1" is not an IP address or DNS name`,
      `hosts."web 1".uid: -5 is not a uid (0-1099511627775)`,
      `hosts."web 1".port: 70000 is not a port (1-65535)`,
      `hosts."web 1".transport: "tcp" is not one of "syn" or "udp"`,
      `hosts."web 1".exec[1]: unknown placeholder "{user}" (use {host}, {address} or {port})`,
      `hosts."web 1".pad: 5000 is too many bytes (0-1024)`,
      `hosts."web 1".timeout: "2" has no unit (e.g. "2s")`,
      `hosts."web 1".retries: 1.5 is not an integer`,
      `hosts."web 1".via: unknown key (did you mean "via_port"?)`,
      `hosts.v6.server_id: "v6 server" is not a server id (letters, digits, ".", "_", "-"; at most 64)`,
      `hosts.v6.exec: must be an array of arguments, not a string (e.g. ["systemctl", "start", "ssh"]); no shell is used`,
      `hosts.v6.bind_source: 10.0.0.1 is not of the same family as address`,
      `hosts.empty.address: missing (required)`,
      `hosts.empty.uid: missing (required)`,
      `hosts.empty.key_file: missing (required)`,
      `colour: unknown key`,
    ],
  );
});

Deno.test("parseBindSource and expandExec", () => {
  deepEqual(parseBindSource("auto"), { mode: "auto" });
  deepEqual(parseBindSource("none"), { mode: "none" });
  deepEqual(parseBindSource("::FFFF:1.2.3.4"), { mode: "address", address: "::ffff:1.2.3.4" });
  throws(() => parseBindSource("eth0"), SyntaxError);
  deepEqual(
    expandExec(
      ["ssh", "-p", "{port}", "-o", "HostKeyAlias={host}", "a@{address}", "{other}", "{"],
      {
        host: "web1",
        address: "fd77::1",
        port: 2222,
      },
    ),
    ["ssh", "-p", "2222", "-o", "HostKeyAlias=web1", "a@fd77::1", "{other}", "{"],
  );
});

Deno.test("loadClientConfig: a missing default file is an empty config, a missing given file an error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lookup = env({ HOME: dir });
    const empty = await loadClientConfig({ env: lookup });
    deepEqual(empty.hosts, []);
    equal(empty.stateDir, `${dir}/.local/state/spa`);
    await rejects(loadClientConfig({ env: lookup, path: `${dir}/c.toml` }), {
      message: `Cannot use config ${dir}/c.toml: it does not exist`,
    });
    await Deno.mkdir(`${dir}/.config/spa`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/.config/spa/client.toml`,
      `[hosts.a]\naddress = "10.77.0.1"\nuid = 1\nkey_file = "a.key"\n`,
    );
    const config = await loadClientConfig({ env: lookup });
    equal(config.hosts[0]!.keyFile, `${dir}/.config/spa/a.key`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
