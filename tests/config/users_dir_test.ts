import { deepEqual, equal, rejects } from "node:assert/strict";
import { ConfigError } from "../../lib/config/config_error.ts";
import { formatKeyFile } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { loadServerConfig } from "../../lib/config/server_load.ts";

const SECRET = new Secret(new Uint8Array(32).fill(7));

async function setup(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.mkdir(`${dir}/users.d`);
  await Deno.writeTextFile(
    `${dir}/server.toml`,
    `server_id = "web1"\nstate_dir = "state"\nusers_dir = "users.d"\n` +
      `[ports."tcp/2222"]\nidle_timeout = "1m"\n`,
  );
  return dir;
}

async function addUser(dir: string, name: string, uid: number, body = `ports = ["tcp/22"]\n`) {
  await Deno.writeTextFile(`${dir}/users.d/${name}.toml`, `uid = ${uid}\n${body}`);
  await Deno.writeTextFile(
    `${dir}/users.d/${name}.key`,
    formatKeyFile({ uid, secret: SECRET, sequence: 5 }),
    { mode: 0o600 },
  );
  await Deno.chmod(`${dir}/users.d/${name}.key`, 0o600);
}

Deno.test("users_dir: one file per user, name and key file from the file's name", async () => {
  const dir = await setup();
  try {
    await addUser(dir, "alice", 1000);
    await addUser(dir, "bob", 1001, `ports = ["tcp/2222"]\nsources = ["10.0.0.0/8"]\n`);
    await Deno.writeTextFile(`${dir}/users.d/.alice.toml.swp`, "junk");
    await Deno.writeTextFile(`${dir}/users.d/README`, "not a user");
    const loaded = await loadServerConfig(`${dir}/server.toml`);
    deepEqual(loaded.config.users.map((u) => [u.uid, u.name, u.keyFile]), [
      [1000, "alice", `${dir}/users.d/alice.key`],
      [1001, "bob", `${dir}/users.d/bob.key`],
    ]);
    deepEqual(loaded.config.ports.map((p) => [p.key, p.idleTimeoutMs]), [
      ["tcp/2222", 60_000],
      ["tcp/22", 300_000],
    ]);
    equal(loaded.userFiles.get(1001), `${dir}/users.d/bob.toml`);
    equal(loaded.keys.size, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("users_dir: a broken file is reported with its name and does not stop the others", async () => {
  const dir = await setup();
  try {
    await addUser(dir, "alice", 1000);
    await addUser(dir, "bob", 1001, `ports = ["tcp/22"]\ncolour = 1\n`);
    await addUser(dir, "carol", 1000); // uid of alice
    await addUser(dir, "dave", 1003);
    await Deno.chmod(`${dir}/users.d/dave.key`, 0o644);
    await addUser(dir, "erin", 1004);
    await Deno.chmod(`${dir}/users.d/erin.toml`, 0o666);
    const problems = [
      `${dir}/users.d/bob.toml: colour: unknown key`,
      `${dir}/users.d/carol.toml: uid: 1000 is already used by ${dir}/users.d/alice.toml`,
      `${dir}/users.d/dave.toml: key_file: Cannot use key file ${dir}/users.d/dave.key: it is readable by group or others (mode 0644); run: chmod 600 ${dir}/users.d/dave.key`,
      `${dir}/users.d/erin.toml: it is writable by group or others (mode 0666), who could grant themselves access; run: chmod go-w ${dir}/users.d/erin.toml`,
    ];
    // check-config: every broken file is a problem.
    await rejects(loadServerConfig(`${dir}/server.toml`), (error: ConfigError) => {
      deepEqual(error.problems, problems);
      return true;
    });
    // The daemon: the good users load, the broken files are returned.
    const loaded = await loadServerConfig(`${dir}/server.toml`, { strict: false });
    deepEqual(loaded.config.users.map((u) => u.name), ["alice"]);
    deepEqual(loaded.broken.flatMap((b) => b.problems), problems);
    deepEqual(loaded.broken.map((b) => b.uid), [1001, 1000, 1003, undefined]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("users_dir: a missing folder is a config problem; an empty one is fine", async () => {
  const dir = await setup();
  try {
    equal((await loadServerConfig(`${dir}/server.toml`)).config.users.length, 0);
    await Deno.remove(`${dir}/users.d`);
    await rejects(loadServerConfig(`${dir}/server.toml`, { strict: false }), (e: ConfigError) => {
      deepEqual(e.problems, [`users_dir: Cannot read users_dir ${dir}/users.d: it does not exist`]);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("users_dir: keygen, then provision --users-dir writes a user the server loads", async () => {
  const dir = await setup();
  try {
    const { keygen } = await import("../../lib/client/keygen.ts");
    const { provision } = await import("../../lib/client/provision.ts");
    const made = await keygen({ uid: 1000, name: "alice", outDir: `${dir}/client`, host: "web1" });
    const result = await provision({
      serverId: "web1",
      uid: 1000,
      keyFile: made.keyFile,
      port: 2222,
      usersDir: `${dir}/users.d`,
    });
    equal(result.written, `${dir}/users.d/alice.key`);
    equal(result.userFile, `${dir}/users.d/alice.toml`);
    const loaded = await loadServerConfig(`${dir}/server.toml`);
    deepEqual(loaded.config.users.map((u) => [u.uid, u.name, u.ports]), [
      [1000, "alice", [{ protocol: "tcp", port: 2222 }]],
    ]);
    equal(loaded.keys.get(1000)!.serverId, "web1");
    await rejects(
      provision({ serverId: "web1", uid: 1000, keyFile: made.keyFile, usersDir: `${dir}/users.d` }),
      /Cannot write server key file .*alice\.key: it already exists/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/users.d/bob.toml loads as a user file", async () => {
  const dir = await setup();
  try {
    const example = new URL("../../examples/users.d/bob.toml", import.meta.url);
    await Deno.copyFile(example, `${dir}/users.d/bob.toml`);
    await Deno.chmod(`${dir}/users.d/bob.toml`, 0o644);
    await Deno.writeTextFile(
      `${dir}/users.d/bob.key`,
      formatKeyFile({ uid: 1001, secret: SECRET, sequence: 5 }),
      { mode: 0o600 },
    );
    await Deno.chmod(`${dir}/users.d/bob.key`, 0o600);
    const loaded = await loadServerConfig(`${dir}/server.toml`);
    deepEqual(loaded.config.users.map((u) => [u.uid, u.name]), [[1001, "bob"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("users_dir: with a load cache, a changed file is read again, a removed one is gone", async () => {
  const { LoadCache } = await import("../../lib/config/server_load.ts");
  const dir = await setup();
  try {
    await addUser(dir, "alice", 1000);
    await addUser(dir, "bob", 1001);
    const old = new Date(Date.now() - 60_000);
    for (const f of ["alice.toml", "alice.key", "bob.toml", "bob.key"]) {
      await Deno.utime(`${dir}/users.d/${f}`, old, old);
    }
    const cache = new LoadCache();
    const first = await loadServerConfig(`${dir}/server.toml`, { cache });
    deepEqual(first.config.users.map((u) => u.ports[0]!.port), [22, 22]);
    equal((await loadServerConfig(`${dir}/server.toml`, { cache })).config.users.length, 2);
    // Rewritten as configuration management does (a new file renamed over it).
    await Deno.writeTextFile(`${dir}/users.d/alice.tmp`, `uid = 1000\nports = ["tcp/2222"]\n`);
    await Deno.rename(`${dir}/users.d/alice.tmp`, `${dir}/users.d/alice.toml`);
    await Deno.remove(`${dir}/users.d/bob.toml`);
    const third = await loadServerConfig(`${dir}/server.toml`, { cache });
    deepEqual(third.config.users.map((u) => [u.name, u.ports[0]!.port]), [["alice", 2222]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
