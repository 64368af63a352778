import { deepEqual, equal, rejects } from "node:assert/strict";
import { ConfigError } from "../../lib/config/config_error.ts";
import { formatKeyFile, keyForServer } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { LoadCache, loadServerConfig, loadStateDir } from "../../lib/config/server_load.ts";
import { deriveServerKey } from "../../lib/protocol/key_schedule.ts";

const SECRET = new Secret(new Uint8Array(32).fill(9));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function writeKey(path: string, uid: number, mode = 0o600): Promise<void> {
  await Deno.writeTextFile(path, formatKeyFile({ uid, secret: SECRET, sequence: 5 }));
  await Deno.chmod(path, mode);
}

function user(uid: number, name: string, keyFile: string): string {
  return `[[users]]\nuid = ${uid}\nname = "${name}"\nkey_file = "${keyFile}"\nports = ["tcp/22"]\n`;
}

Deno.test("loadServerConfig loads the config and every user's key", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/keys`);
    await writeKey(`${dir}/keys/alice.key`, 1000);
    await writeKey(`${dir}/keys/bob.key`, 1001);
    await Deno.writeTextFile(
      `${dir}/server.toml`,
      `server_id = "web1"\nstate_dir = "state"\n` + user(1000, "alice", "keys/alice.key") +
        user(1001, "bob", `${dir}/keys/bob.key`),
    );
    const { config, keys } = await loadServerConfig(`${dir}/server.toml`);
    equal(config.stateDir, `${dir}/state`);
    equal(config.path, `${dir}/server.toml`);
    equal(config.serverId, "web1");
    deepEqual([...keys.keys()], [1000, 1001]);
    // The key file as it is; the daemon turns the user's secret into this server's key.
    equal(keys.get(1001)!.secret.equals(SECRET), true);
    const web1 = new Secret(deriveServerKey(SECRET.bytes(), "web1"));
    equal(keyForServer(keys.get(1001)!, config.serverId).secret.equals(web1), true);
  });
});

Deno.test("loadServerConfig takes a key provisioned for this server_id, refuses one for another", async () => {
  await withDir(async (dir) => {
    const serverKey = (id: string) => ({
      uid: 1000,
      secret: new Secret(deriveServerKey(SECRET.bytes(), id)),
      sequence: 5,
      serverId: id,
    });
    await Deno.writeTextFile(`${dir}/web1.key`, formatKeyFile(serverKey("web1")), { mode: 0o600 });
    await Deno.writeTextFile(`${dir}/web2.key`, formatKeyFile(serverKey("web2")), { mode: 0o600 });
    const config = (key: string) => `server_id = "web1"\n` + user(1000, "alice", key);
    await Deno.writeTextFile(`${dir}/good.toml`, config("web1.key"));
    const { keys } = await loadServerConfig(`${dir}/good.toml`);
    equal(keys.get(1000)!.secret.equals(serverKey("web1").secret), true);
    await Deno.writeTextFile(`${dir}/bad.toml`, config("web2.key"));
    await rejects(loadServerConfig(`${dir}/bad.toml`), (error: ConfigError) => {
      deepEqual(error.problems, [
        `users[0].key_file: Cannot use key file ${dir}/web2.key: it is the key of server_id "web2", not of "web1" (provision a key for this server with: spa-client provision)`,
      ]);
      return true;
    });
  });
});

Deno.test("loadServerConfig reports schema and key file problems together", async () => {
  await withDir(async (dir) => {
    await writeKey(`${dir}/alice.key`, 1000, 0o644);
    await writeKey(`${dir}/bob.key`, 999);
    await Deno.writeTextFile(`${dir}/carol.key`, "uid = 1002\n");
    await Deno.chmod(`${dir}/carol.key`, 0o600);
    await Deno.writeTextFile(
      `${dir}/server.toml`,
      `server_id = "web1"\n` + user(1000, "alice", "alice.key") + user(1001, "bob", "bob.key") +
        user(1002, "carol", "carol.key") + user(1003, "dave", "dave.key") +
        `[ports."tcp/22"]\non_open = ["/nonexistent/bin/start-ssh"]\n`,
    );
    await rejects(loadServerConfig(`${dir}/server.toml`), (error: ConfigError) => {
      equal(error instanceof ConfigError, true);
      deepEqual(error.problems, [
        `users[0].key_file: Cannot use key file ${dir}/alice.key: it is readable by group or others (mode 0644); run: chmod 600 ${dir}/alice.key`,
        `users[1].key_file: ${dir}/bob.key holds uid 999, not 1001`,
        `users[2].key_file: Cannot use key file ${dir}/carol.key: sequence: missing (required)`,
        `users[2].key_file: Cannot use key file ${dir}/carol.key: secret: missing (required, or "passphrase" instead)`,
        `users[3].key_file: Cannot use key file ${dir}/dave.key: it does not exist`,
        `ports."tcp/22".on_open[0]: /nonexistent/bin/start-ssh does not exist`,
      ]);
      return true;
    });
  });
});

Deno.test("loadServerConfig checks key files even when the schema has problems", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/server.toml`,
      `server_id = "s"\nfirewall = "pf"\n` + user(1, "a", "a.key"),
    );
    await rejects(loadServerConfig(`${dir}/server.toml`), (error: ConfigError) => {
      deepEqual(error.problems, [
        `firewall: "pf" is not one of "nft" or "none"`,
        `users[0].key_file: Cannot use key file ${dir}/a.key: it does not exist`,
      ]);
      return true;
    });
  });
});

Deno.test("loadServerConfig checks state_dir and libpcap_path", async () => {
  await withDir(async (dir) => {
    await writeKey(`${dir}/a.key`, 1);
    await Deno.writeTextFile(`${dir}/state`, "");
    await Deno.writeTextFile(
      `${dir}/server.toml`,
      `server_id = "s"\nstate_dir = "state"\nlibpcap_path = "nope.so"\n` + user(1, "a", "a.key"),
    );
    await rejects(loadServerConfig(`${dir}/server.toml`), (error: ConfigError) => {
      deepEqual(error.problems, [
        `state_dir: ${dir}/state is not a folder`,
        `libpcap_path: ${dir}/nope.so does not exist`,
      ]);
      return true;
    });
  });
});

Deno.test("loadServerConfig says when the file is missing or not text", async () => {
  await withDir(async (dir) => {
    await rejects(loadServerConfig(`${dir}/none.toml`), {
      name: "ConfigError",
      message: `Cannot use config ${dir}/none.toml: it does not exist`,
    });
    await Deno.writeFile(`${dir}/bin.toml`, new Uint8Array([0xc3, 0x28]));
    await rejects(loadServerConfig(`${dir}/bin.toml`), {
      message: `Cannot use config ${dir}/bin.toml: it is not UTF-8 text`,
    });
    await rejects(loadServerConfig(dir), {
      message: `Cannot use config ${dir}: it is not a regular file`,
    });
  });
});

Deno.test("loadStateDir reads state_dir from the part before the first table header", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/server.toml`;
    // What follows the first header is not parsed: broken TOML there does not matter.
    await Deno.writeTextFile(
      path,
      `state_dir = "state"\ninterfaces = [\n  "eth0",\n]\n\n[[users]]\nuid = 1\nports = ["tcp/22"\n`,
    );
    equal(await loadStateDir(path), `${dir}/state`);
    // No state_dir before the first header: the default.
    await Deno.writeTextFile(path, `server_id = "a"\n[rate_limit]\nfailed_burst = 3\n`);
    equal(await loadStateDir(path), "/var/lib/spa");
  });
});

Deno.test("loadStateDir parses the whole file when the cut would split a value", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/server.toml`;
    // A line starting with "[" inside a multi-line string or a nested array is not a header.
    await Deno.writeTextFile(
      path,
      `bpf_filter = """\n[not a header]\n"""\nlists = [\n[1, 2],\n]\nstate_dir = "/srv/spa"\n` +
        `[[users]]\nuid = 1\n`,
    );
    equal(await loadStateDir(path), "/srv/spa");
    await Deno.writeTextFile(path, `state_dir = "/srv/spa"\nbroken = \n[[users]]\n`);
    await rejects(loadStateDir(path), ConfigError);
  });
});

Deno.test("loadServerConfig with a load cache parses an unchanged config file once", async () => {
  await withDir(async (dir) => {
    await Deno.mkdir(`${dir}/keys`);
    await writeKey(`${dir}/keys/a.key`, 7);
    const path = `${dir}/server.toml`;
    const config = (port: number) =>
      `server_id = "s1"\nstate_dir = "state"\n${user(7, "a", "keys/a.key")}`.replace(
        '"tcp/22"',
        `"tcp/${port}"`,
      );
    await Deno.writeTextFile(path, config(22));
    // A file changed in the last 2 s is never taken from the cache (ctime cannot be set back).
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const cache = new LoadCache();
    const first = await loadServerConfig(path, { cache });
    const second = await loadServerConfig(path, { cache });
    equal(second.config.users[0], first.config.users[0]); // the same objects: not parsed again
    // Rewritten as configuration management does (a new file renamed over it).
    await Deno.writeTextFile(`${path}.tmp`, config(2222));
    await Deno.rename(`${path}.tmp`, path);
    const third = await loadServerConfig(path, { cache });
    equal(third.config.users[0]!.ports[0]!.port, 2222);
  });
});
