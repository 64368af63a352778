/**
 * The shipped permission sets hold: `spa-server` and `spa-client` are started with `deno run` and
 * exactly the flags `deno task compile` bakes into the binaries (`lib/permissions.ts`), and each
 * forbidden operation is refused by Deno with `NotCapable` (Deno 2's class for an operation
 * outside the permission set; `PermissionDenied` is the operating system's, which root never
 * gets here). A probe script tries one operation per run; positive controls under the same flags,
 * and the same probes under `--allow-all`, show the probe would notice a missing restriction.
 * Then the real `server.ts` and `client.ts` run under their sets.
 */

import { equal, match, ok } from "node:assert/strict";
import { LIBC_CANDIDATES, LIBPCAP_CANDIDATES } from "../../ffi/library_paths.ts";
import {
  clientPermissionFlags,
  MODULE_FLAGS,
  serverPermissionFlags,
} from "../../lib/permissions.ts";
import { runClient } from "../client/_helpers.ts";
import { exchange, Knocker, startEcho } from "../../harness/knocker.ts";
import { startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";
import { deno, probe, ROOT, serverDirs } from "./_helpers.ts";

const REFUSED = "NotCapable";

/** The first of `paths` that exists. */
async function firstExisting(paths: readonly string[]): Promise<string> {
  for (const path of paths) {
    if (await Deno.stat(path).then(() => true, () => false)) return path;
  }
  throw new Error(`Cannot find any of ${paths.join(", ")}`);
}
const OTHER_LIBRARY_NAME = "libm.so.6";

/** A library beside libc that neither binary may open. */
async function otherLibrary(): Promise<string> {
  const libc = await firstExisting(LIBC_CANDIDATES);
  return libc.replace(/libc\.so\.6$/, OTHER_LIBRARY_NAME);
}

Deno.test("spa-server's permission set refuses what the daemon must never do", async (t) => {
  const dirs = await serverDirs();
  const flags = serverPermissionFlags({
    configDir: dirs.configDir,
    stateDir: dirs.stateDir,
    commands: ["systemctl"],
  });
  const libc = await firstExisting(LIBC_CANDIDATES);
  const libm = await otherLibrary();
  try {
    await t.step("it reads its config folder and writes its state folder", async () => {
      equal(await probe(flags, "read", dirs.configPath), "ok");
      equal(await probe(flags, "write", `${dirs.stateDir}/probe.txt`), "ok");
      equal(await probe(flags, "dlopen", libc), "ok");
    });

    await t.step("it cannot read outside its config and state folders", async () => {
      equal(await probe(flags, "read", `${dirs.otherDir}/secret.txt`), REFUSED);
      equal(await probe(flags, "read", "/etc/passwd"), REFUSED);
      equal(await probe(flags, "stat", dirs.otherDir), REFUSED);
      equal(await probe(flags, "read", "/proc/self/environ"), REFUSED);
    });

    await t.step("it cannot write outside its state folder, not even its config", async () => {
      equal(await probe(flags, "write", `${dirs.configDir}/server.toml.new`), REFUSED);
      equal(await probe(flags, "write", `${dirs.otherDir}/x`), REFUSED);
    });

    await t.step("it runs nft and the configured commands, nothing else", async () => {
      if (await Deno.stat("/usr/sbin/nft").then(() => true, () => false)) {
        equal(await probe(flags, "run", "nft", "--version"), "ok");
      }
      equal(await probe(flags, "run", "systemctl", "--version"), "ok");
      equal(await probe(flags, "run", "sh", "-c", "true"), REFUSED);
      equal(await probe(flags, "run", "/bin/sh", "-c", "true"), REFUSED);
      equal(await probe(flags, "run", "id"), REFUSED);
      // Through the daemon's own command runner, as on_open would.
      equal(await probe(flags, "command", "systemctl", "--version"), "ok");
      equal(await probe(flags, "command", "sh", "-c", "true"), REFUSED);
    });

    await t.step("it cannot open a network listener or connect", async () => {
      equal(await probe(flags, "listen-tcp"), REFUSED);
      equal(await probe(flags, "listen-udp"), REFUSED);
      equal(await probe(flags, "listen-unix", `${dirs.stateDir}/control.sock`), REFUSED);
      equal(await probe(flags, "connect-tcp", "127.0.0.1", "9"), REFUSED);
    });

    await t.step("no environment, no system information, no other library", async () => {
      equal(await probe(flags, "env", "PATH"), REFUSED);
      equal(await probe(flags, "env", "HOME"), REFUSED);
      equal(await probe(flags, "os-release"), REFUSED);
      equal(await probe(flags, "hostname"), REFUSED);
      equal(await probe(flags, "dlopen", libm), REFUSED);
      equal(await probe(flags, "pointer"), REFUSED);
    });

    await t.step("the same probes succeed under --allow-all (the probe can tell)", async () => {
      const all = ["--allow-all"];
      equal(await probe(all, "read", `${dirs.otherDir}/secret.txt`), "ok");
      equal(await probe(all, "run", "sh", "-c", "true"), "ok");
      equal(await probe(all, "listen-tcp"), "ok");
      equal(await probe(all, "listen-udp"), "ok");
      equal(await probe(all, "env", "PATH"), "ok");
      equal(await probe(all, "dlopen", libm), "ok");
    });
  } finally {
    await Deno.remove(dirs.dir, { recursive: true });
  }
});

Deno.test("spa-server under its permission set: files outside its folders are refused", async (t) => {
  const dirs = await serverDirs();
  const serverArgv = (...args: string[]) => [
    "run",
    ...MODULE_FLAGS,
    ...serverPermissionFlags({
      configDir: dirs.configDir,
      stateDir: dirs.stateDir,
      commands: ["systemctl"],
    }),
    `${ROOT}/server.ts`,
    ...args,
  ];
  const refused = (stderr: string, path: string) => {
    match(stderr, /outside spa-server's permission set/);
    ok(stderr.includes(path), stderr);
  };
  try {
    await t.step("check-config of the config in its folder passes", async () => {
      const result = await deno(serverArgv("check-config", "--config", dirs.configPath));
      equal(result.code, 0, result.stderr);
      match(result.stdout, /: ok \(1 users, ports tcp\/22\)/);
    });

    await t.step("a config outside the config folder cannot be read (exit 1)", async () => {
      const outside = `${dirs.otherDir}/server.toml`;
      await Deno.copyFile(dirs.configPath, outside);
      const result = await deno(serverArgv("check-config", "--config", outside));
      equal(result.code, 1);
      refused(result.stderr, outside);
    });

    await t.step("a key file outside the config folder cannot be read (exit 1)", async () => {
      const key = `${dirs.otherDir}/alice.key`;
      await Deno.copyFile(`${dirs.configDir}/keys/alice.key`, key);
      await Deno.chmod(key, 0o600);
      const config = `${dirs.configDir}/outside-key.toml`;
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(dirs.configPath)).replace(`${dirs.configDir}/keys/alice.key`, key),
      );
      const result = await deno(serverArgv("check-config", "--config", config));
      equal(result.code, 1);
      refused(result.stderr, key);
    });

    await t.step("a state_dir other than the permitted one is refused (exit 1)", async () => {
      const config = `${dirs.configDir}/other-state.toml`;
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(dirs.configPath)).replace(dirs.stateDir, `${dirs.otherDir}/state`),
      );
      const result = await deno(serverArgv("check-config", "--config", config));
      equal(result.code, 1);
      refused(result.stderr, `${dirs.otherDir}/state`);
    });

    await t.step("--version needs no permission", async () => {
      const result = await deno(serverArgv("--version"));
      equal(result.code, 0);
      match(result.stdout, /^spa-server \d+\.\d+\.\d+ \(protocol \d+\)$/m);
    });
  } finally {
    await Deno.remove(dirs.dir, { recursive: true });
  }
});

Deno.test("spa-client's permission set: only its environment, libraries, no system info", async (t) => {
  const flags = clientPermissionFlags();
  const libpcap = await firstExisting(LIBPCAP_CANDIDATES).catch(() => undefined);
  const libm = await otherLibrary();
  await t.step("it reads HOME and the XDG folders", async () => {
    equal(await probe(flags, "env", "HOME"), "ok");
    equal(await probe(flags, "env", "XDG_CONFIG_HOME"), "ok");
    equal(await probe(flags, "env", "XDG_STATE_HOME"), "ok");
  });
  await t.step("it cannot read any other variable, nor through /proc", async () => {
    equal(await probe(flags, "env", "PATH"), REFUSED);
    equal(await probe(flags, "env", "SSH_AUTH_SOCK"), REFUSED);
    equal(await probe(flags, "read", "/proc/self/environ"), REFUSED);
  });
  await t.step("it has no system-information permission", async () => {
    equal(await probe(flags, "os-release"), REFUSED);
    equal(await probe(flags, "hostname"), REFUSED);
  });
  await t.step("it loads libc only (not even libpcap), and gets no raw pointers", async () => {
    if (libpcap !== undefined) equal(await probe(flags, "dlopen", libpcap), REFUSED);
    equal(await probe(flags, "dlopen", await firstExisting(LIBC_CANDIDATES)), "ok");
    equal(await probe(flags, "dlopen", libm), REFUSED);
    equal(await probe(flags, "pointer"), REFUSED);
  });
  await t.step("it may open sockets (the udp transport)", async () => {
    equal(await probe(flags, "listen-udp"), "ok");
  });
});

Deno.test("spa-client under its permission set: --version and keygen work", async () => {
  const home = await Deno.makeTempDir({ prefix: "spa-shipping-home-" });
  try {
    const version = await runClient(home, ["--version"]);
    equal(version.code, 0, version.stderr);
    match(version.stdout, /^spa-client \d+\.\d+\.\d+ \(protocol \d+\)$/m);
    const keygen = await runClient(home, ["keygen", "--uid", "1000", "--name", "alice"]);
    equal(keygen.code, 0, keygen.stderr);
    const info = await Deno.stat(`${home}/.config/spa/keys/alice.key`);
    equal(info.mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

netnsTest(
  "spa-server under its permission set: an on_open program it was not built for is refused",
  async () => {
    await using topo = await createTopology(["server", "client"]);
    const marks = await Deno.makeTempDir({ prefix: "spa-shipping-marks-" });
    const setup = await writeServerSetup({
      users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
      portSections: { "tcp/22": [`on_open = ["touch", "${marks}/opened"]`] },
    });
    await startEcho(topo, "server", 22);
    // The shipped binary's commands (systemctl), not the config's (touch).
    const server = await startServer(topo, { ...setup, commands: ["systemctl"] });
    try {
      const alice = new Knocker(setup.users[0]!);
      const { trailer } = alice.knock(22);
      const answer = await exchange(topo, "client", {
        src: "10.77.0.2",
        dst: "10.77.0.1",
        payload: trailer,
      });
      ok(answer !== undefined, "the knock itself is accepted and acked");
      const line = await server.waitFor(/command-failed/, 10_000);
      match(line, /program=touch/);
      match(line, /Requires run access to \\"touch\\"/);
      equal(await Deno.stat(`${marks}/opened`).then(() => true, () => false), false);
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(marks, { recursive: true });
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
