import { deepEqual, equal, throws } from "node:assert/strict";
import { ConfigError } from "../../lib/config/config_error.ts";
import { checkServerConfig, parseServerConfig, serverCommands } from "../../lib/config/server.ts";

const PATH = "/etc/spa/server.toml";
const USER = `server_id = "web1"
[[users]]
uid = 1000
name = "alice"
key_file = "keys/alice.key"
ports = ["tcp/22"]
`;

/** The problem lines of `text` (which must be refused). */
function problemsOf(text: string, path: string | null = PATH): string[] {
  const options = path === null ? {} : { path };
  const check = checkServerConfig(text, options);
  equal(check.config, undefined, "the config should be refused");
  try {
    parseServerConfig(text, options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    deepEqual(error.problems, check.problems);
    return [...error.problems];
  }
  throw new Error("parseServerConfig accepted a bad config");
}

Deno.test("parseServerConfig fills in every default", () => {
  const config = parseServerConfig(USER, { path: PATH });
  equal(config.path, PATH);
  deepEqual(config.interfaces, ["any"]);
  equal(config.stateDir, "/var/lib/spa");
  equal(config.firewall, "nft");
  equal(config.nftTable, "spa");
  equal(config.idleTimeoutMs, 300_000);
  equal(config.maxPacketAgeMs, 120_000);
  equal(config.resyncGraceMs, 600_000);
  equal(config.logFormat, "text");
  equal(config.commandTimeoutMs, 10_000);
  equal(config.captureBufferBytes, 6 * 1024 * 1024);
  equal(config.promiscuous, false);
  equal(config.bpfFilter, undefined);
  equal(config.libpcapPath, undefined);
  equal(config.replayCapacity, 1024);
  deepEqual(config.rateLimit, { failedPerSecond: 10, failedBurst: 20, trackedSources: 4096 });
  const user = config.users[0]!;
  equal(user.keyFile, "/etc/spa/keys/alice.key", "relative to the config's folder");
  deepEqual(user.ports, [{ protocol: "tcp", port: 22 }]);
  deepEqual(user.sources.toJSON(), ["0.0.0.0/0", "::/0"]);
  equal(user.requireSourceBinding, false);
  deepEqual(config.ports, [{ protocol: "tcp", port: 22, key: "tcp/22", idleTimeoutMs: 300_000 }]);
});

Deno.test("parseServerConfig reads every key", () => {
  const config = parseServerConfig(
    `
server_id = "web1.example.org"
interfaces = ["eth0", "wg0"]
state_dir = "state"
firewall = "none"
nft_table = "spa_test"
idle_timeout = "2m"
max_packet_age = "60s"
resync_grace = "1h"
log_format = "json"
command_timeout = "5s"
capture_buffer = "8MiB"
promiscuous = true
bpf_filter = "tcp or udp"
libpcap_path = "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8"
replay_capacity = 4096

[rate_limit]
failed_per_second = 5
failed_burst = 50
tracked_sources = 100

[[users]]
uid = 1099511627775
name = "alice"
key_file = "/keys/alice.key"
ports = ["tcp/22", "udp/53"]
sources = ["10.77.0.0/24", "fd77::/64"]
require_source_binding = true

[[users]]
uid = 0
name = "bob.ops-2"
key_file = "/keys/bob.key"
ports = ["tcp/22", "tcp/8443"]

[ports."tcp/22"]
idle_timeout = "10m"
on_open = ["systemctl", "start", "ssh"]
on_close = ["/usr/bin/systemctl", "stop", "ssh"]

[ports."udp/53"]
on_open = ["logger", "dns open"]
`,
    { path: PATH },
  );
  deepEqual(config.interfaces, ["eth0", "wg0"]);
  equal(config.stateDir, "/etc/spa/state");
  equal(config.firewall, "none");
  equal(config.nftTable, "spa_test");
  equal(config.idleTimeoutMs, 120_000);
  equal(config.maxPacketAgeMs, 60_000);
  equal(config.resyncGraceMs, 3_600_000);
  equal(config.logFormat, "json");
  equal(config.commandTimeoutMs, 5_000);
  equal(config.captureBufferBytes, 8 * 1024 * 1024);
  equal(config.promiscuous, true);
  equal(config.bpfFilter, "tcp or udp");
  equal(config.libpcapPath, "/usr/lib/x86_64-linux-gnu/libpcap.so.0.8");
  equal(config.replayCapacity, 4096);
  deepEqual(config.rateLimit, { failedPerSecond: 5, failedBurst: 50, trackedSources: 100 });
  equal(config.users.length, 2);
  equal(config.users[0]!.uid, 2 ** 40 - 1);
  equal(config.users[0]!.sources.contains(new Uint8Array([10, 77, 0, 9])), true);
  equal(config.users[0]!.sources.contains(new Uint8Array([10, 78, 0, 9])), false);
  equal(config.users[0]!.requireSourceBinding, true);
  equal(config.users[1]!.name, "bob.ops-2");
  deepEqual(config.ports, [
    {
      protocol: "tcp",
      port: 22,
      key: "tcp/22",
      idleTimeoutMs: 600_000,
      onOpen: ["systemctl", "start", "ssh"],
      onClose: ["/usr/bin/systemctl", "stop", "ssh"],
    },
    {
      protocol: "udp",
      port: 53,
      key: "udp/53",
      idleTimeoutMs: 120_000,
      onOpen: ["logger", "dns open"],
    },
    { protocol: "tcp", port: 8443, key: "tcp/8443", idleTimeoutMs: 120_000 },
  ]);
  deepEqual(serverCommands(config), ["systemctl", "/usr/bin/systemctl", "logger"]);
});

Deno.test("parseServerConfig returns a deeply frozen config", () => {
  const config = parseServerConfig(USER + `[ports."tcp/22"]\non_open = ["true"]\n`, { path: PATH });
  equal(Object.isFrozen(config), true);
  equal(Object.isFrozen(config.users), true);
  equal(Object.isFrozen(config.users[0]), true);
  equal(Object.isFrozen(config.users[0]!.ports[0]), true);
  equal(Object.isFrozen(config.ports[0]!.onOpen), true);
  equal(Object.isFrozen(config.rateLimit), true);
  throws(() => {
    (config as { firewall: string }).firewall = "none";
  }, TypeError);
  throws(() => (config.users as unknown[]).push({}), TypeError);
});

Deno.test("a bad port names its key path and the reason", () => {
  const text = USER + `
[[users]]
uid = 1001
name = "bob"
key_file = "/keys/bob.key"
ports = ["tcp/99999"]
`;
  deepEqual(problemsOf(text), [`users[1].ports[0]: "tcp/99999" is not a port (1-65535)`]);
});

Deno.test("every problem of a file is reported at once", () => {
  const text = `
server_id = "-web"
interfaces = ["eth0", "any"]
firewall = "iptables"
idle_timeout = "5x"
max_packet_age = 120
capture_buffer = "32MB"
log_format = "xml"
promiscuous = "yes"
nft_table = "spa-table"
colour = "blue"

[rate_limit]
failed_per_second = 0
burst = 3

[[users]]
uid = 1000
name = "alice smith"
key_file = "/keys/alice.key"
ports = ["tcp/22", "sctp/9", "tcp/22"]
sources = ["10.0.0.1/8", "::/0"]

[[users]]
uid = 1000
name = "alice"
ports = []
nmae = "x"

[ports."tcp/23"]
on_open = "systemctl start telnet"
idle = "1m"

[ports."tcp/22"]
on_close = ["", "x"]
`;
  deepEqual(problemsOf(text), [
    `server_id: "-web" is not a server id (1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit)`,
    `interfaces: "any" already means every interface; list it alone`,
    `firewall: "iptables" is not one of "nft" or "none"`,
    `nft_table: "spa-table" is not a table name (a letter, then up to 31 letters, digits or "_")`,
    `idle_timeout: "5x" is not a duration (e.g. "500ms", "30s", "5m", "1h", "1m30s")`,
    `max_packet_age: 120 must be a string with a unit, e.g. "30s"`,
    `log_format: "xml" is not one of "text" or "json"`,
    `capture_buffer: "32MB" is not a size (use B, KiB, MiB or GiB, e.g. "32MiB")`,
    `promiscuous: "yes" is not true or false`,
    `rate_limit.failed_per_second: 0 is out of range (1-1000000)`,
    `rate_limit.burst: unknown key`,
    `users[0].name: "alice smith" is not a name (letters, digits, ".", "_", "-"; at most 64)`,
    `users[0].ports[1]: "sctp/9" is not a port reference (e.g. "tcp/22", "udp/53")`,
    `users[0].ports: "tcp/22" is listed twice`,
    `users[0].sources[0]: "10.0.0.1/8" has host bits set (did you mean "10.0.0.0/8"?)`,
    `users[1].uid: 1000 is already used by users[0]`,
    `users[1].key_file: missing (required)`,
    `users[1].ports: must not be empty`,
    `users[1].nmae: unknown key (did you mean "name"?)`,
    `ports."tcp/23".on_open: must be an array of arguments, not a string (e.g. ["systemctl", "start", "ssh"]); no shell is used`,
    `ports."tcp/23".idle: unknown key (did you mean "idle_timeout"?)`,
    `ports."tcp/23": no user lists "tcp/23" in its ports`,
    `ports."tcp/22".on_close[0]: the program name must not be empty`,
    `colour: unknown key`,
  ]);
});

Deno.test("duplicate ports and names within users are refused", () => {
  deepEqual(
    problemsOf(
      USER + `
[[users]]
uid = 1001
name = "alice"
key_file = "/k"
ports = ["udp/53", "udp/053"]
`,
    ),
    [
      `users[1].name: "alice" is already used by users[0]`,
      `users[1].ports: "udp/53" is listed twice`,
    ],
  );
});

Deno.test("ranges of numbers and durations are enforced", () => {
  deepEqual(
    problemsOf(
      USER.replace("uid = 1000", "uid = 1099511627776") + `
idle_timeout = "500ms"
`,
    ),
    [
      "users[0].uid: 1099511627776 is not a uid (0-1099511627775)",
      `users[0].idle_timeout: unknown key`,
    ],
  );
  deepEqual(problemsOf(`idle_timeout = "2d"\nreplay_capacity = 1.5\n` + USER), [
    `idle_timeout: "2d" is outside 1s..1d`,
    "replay_capacity: 1.5 is not an integer",
  ]);
});

Deno.test("users and their required keys must be there", () => {
  deepEqual(problemsOf(`state_dir = "/var/lib/spa"\n`), [
    "server_id: missing (required)",
    "users: missing (at least one [[users]], or users_dir)",
  ]);
  deepEqual(problemsOf(`server_id = "s"\nusers = []\n`), ["users: must not be empty"]);
  deepEqual(problemsOf(`server_id = "s"\n[[users]]\n`), [
    "users[0].uid: missing (required)",
    "users[0].name: missing (required)",
    "users[0].key_file: missing (required)",
    "users[0].ports: missing (required)",
  ]);
  deepEqual(problemsOf(`server_id = "s"\nusers = "alice"\n`), [
    `users: "alice" is not an array of tables`,
  ]);
});

Deno.test("relative paths need a config file to resolve against", () => {
  deepEqual(problemsOf(USER, null), [
    `users[0].key_file: "keys/alice.key" is relative and there is no config file to resolve it`,
  ]);
  const config = parseServerConfig(USER.replace("keys/alice.key", "/k/../keys/./alice.key"));
  equal(config.users[0]!.keyFile, "/keys/alice.key");
});

Deno.test("a TOML syntax error is one line with its position", () => {
  deepEqual(problemsOf(`interfaces = ["eth0"\n`), [
    "line 2, column 1: not valid TOML: expected comma or end of structure",
  ]);
  throws(() => parseServerConfig("a = ", { path: PATH }), {
    name: "ConfigError",
    message: /^Cannot use config \/etc\/spa\/server.toml: line 1, column 5: not valid TOML/,
  });
});

Deno.test("ConfigError lists every problem in its message", () => {
  try {
    parseServerConfig(`server_id = "s"\nfirewall = 1\ncolour = 2\n`, { path: PATH });
    throw new Error("unreachable");
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    equal(
      error.message,
      [
        `Cannot use config ${PATH}: 3 problems`,
        `  firewall: 1 is not one of "nft" or "none"`,
        `  users: missing (at least one [[users]], or users_dir)`,
        `  colour: unknown key`,
      ].join("\n"),
    );
    equal(error.path, PATH);
  }
});

Deno.test("checkServerConfig names the key files to check even when other keys are bad", () => {
  const check = checkServerConfig(`firewall = "x"\n` + USER, { path: PATH });
  equal(check.config, undefined);
  deepEqual(check.keyFiles, [{
    path: "/etc/spa/keys/alice.key",
    uid: 1000,
    keyPath: "users[0].key_file",
  }]);
});
