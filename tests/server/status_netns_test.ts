/**
 * Issue 12, item 8: `spa-server status` tells the truth (a killed daemon is "not running" at once,
 * a live one with a read-only state folder is "running" with a stale status), and a daemon whose
 * state folder is unusable at start refuses to start with one clear line. State folders on a tiny
 * tmpfs, made read-only or full from outside; the real daemon and real nft in a namespace.
 */

import { equal, match, ok } from "node:assert/strict";
import { connect, exchange, Knocker, knockIn, sleep, startEcho } from "../../harness/knocker.ts";
import {
  ALICE,
  serverArgv,
  type ServerSetup,
  startServer,
  writeServerSetup,
} from "../../harness/spa_server.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { STATUS_STALE_MS } from "../../lib/server/status.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";

async function sh(...argv: string[]): Promise<void> {
  const out = await new Deno.Command(argv[0]!, { args: argv.slice(1), stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/** Mounts a tmpfs of `size` on `dir` (created); returns the unmount. */
async function tmpfs(dir: string, size: string): Promise<() => Promise<void>> {
  await Deno.mkdir(dir, { recursive: true });
  await sh("mount", "-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir);
  return async () => {
    await sh("umount", "-l", dir).catch(() => {});
  };
}

async function status(topo: Topology, setup: ServerSetup, ...args: string[]) {
  return await topo.exec(
    "server",
    serverArgv(setup, "status", "--config", setup.configPath, ...args),
  );
}

/** Runs `spa-server run` and waits (at most 15 s) for it to exit. */
async function runToExit(topo: Topology, setup: ServerSetup) {
  const child = topo.spawn("server", serverArgv(setup, "run", "--config", setup.configPath), {
    stdout: "null",
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  try {
    const out = await child.output();
    return {
      code: out.code,
      signal: out.signal,
      lines: new TextDecoder().decode(out.stderr).split("\n").filter((l) => l !== ""),
    };
  } finally {
    clearTimeout(timer);
  }
}

netnsTest("spa-server status: a killed daemon is 'not running' at once", async () => {
  await using topo = await createTopology(["server"]);
  const setup = await writeServerSetup({ users: [{ uid: 1, name: "alice", ports: ["tcp/22"] }] });
  try {
    const server = await startServer(topo, setup);
    const before = await status(topo, setup, "--json");
    equal(before.code, 0, before.stderr);
    equal(JSON.parse(before.stdout).running, true);
    server.kill("SIGKILL");
    await server.exited;
    const text = await status(topo, setup);
    equal(text.code, 1, text.stdout);
    match(text.stdout, /not running \(stale status file: last written .* ago by pid \d+\)/);
    const json = await status(topo, setup, "--json");
    equal(json.code, 1);
    equal(JSON.parse(json.stdout).running, false);
    equal(JSON.parse(json.stdout).stale, true);
  } finally {
    await Deno.remove(setup.dir, { recursive: true });
  }
});

netnsTest(
  "spa-server status: a live daemon whose state folder turned read-only is 'running', with a stale status",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({ users: [ALICE], idleTimeout: "30s" });
    const unmount = await tmpfs(setup.stateDir, "1m");
    const alice = new Knocker(setup.users[0]!);
    try {
      await startEcho(topo, "server", 22);
      const server = await startServer(topo, setup);
      await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
      await sh("mount", "-o", "remount,ro", setup.stateDir);

      await t.step("a knock it cannot record is refused (no ack, nothing opened)", async () => {
        await sleep(200);
        const { trailer } = alice.knock(22);
        equal(
          await exchange(topo, "client", { src: CLIENT, dst: SERVER, payload: trailer }),
          undefined,
        );
      });

      await t.step("status: running (exit 0), and says its status file is stale", async () => {
        await sleep(STATUS_STALE_MS + 1500);
        const text = await status(topo, setup);
        equal(text.code, 0, text.stderr);
        match(text.stdout, /^spa-server: running, pid \d+/);
        match(text.stdout, /status file is stale .*cannot write its state folder/);
        const json = JSON.parse((await status(topo, setup, "--json")).stdout);
        equal(json.running, true);
        equal(json.stale, true);
        const failed = server.lines.filter((l) => / status-write-failed /.test(l));
        equal(failed.length, 1, "logged once per outage, not every tick");
      });

      await t.step("writable again: fresh status, knocks work, SIGTERM exits 0", async () => {
        await sh("mount", "-o", "remount,rw", setup.stateDir);
        await knockIn(topo, "client", alice, { src: CLIENT, dst: SERVER });
        equal(await connect(topo, "client", SERVER, 22), "connected");
        await server.waitFor(/ status-write-ok/);
        // The daemon writes its status file every second or so; under load the first read may
        // still see the stale one. Read until it is fresh, for at most 10 s.
        let last: { code: number; stdout: string; stderr: string } | undefined;
        let json: { running?: boolean; stale?: boolean } = {};
        for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(250)) {
          last = await status(topo, setup, "--json");
          if (last.code !== 0 || last.stdout.trim() === "") continue;
          json = JSON.parse(last.stdout);
          if (json.stale === false) break;
        }
        equal(json.running, true, `status --json: ${JSON.stringify(last)}`);
        equal(json.stale, false, `status --json: ${JSON.stringify(last)}`);
        server.kill("SIGTERM");
        equal((await server.exited).code, 0);
      });
    } finally {
      await unmount();
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);

netnsTest(
  "spa-server run: an unusable state folder (read-only, full, missing, in use) refuses to start: exit 1, one line",
  async (t) => {
    await using topo = await createTopology(["server"]);
    const setup = await writeServerSetup({ users: [{ uid: 1, name: "alice", ports: ["tcp/22"] }] });
    const unmounts: (() => Promise<void>)[] = [];
    const refused = async (pattern: RegExp) => {
      const out = await runToExit(topo, setup);
      equal(out.code, 1, `exit ${out.code} (signal ${out.signal}):\n${out.lines.join("\n")}`);
      equal(out.lines.length, 1, out.lines.join("\n"));
      match(out.lines[0]!, /^spa-server: Cannot use state folder /);
      match(out.lines[0]!, pattern);
      // Nothing was set up: no nft table.
      equal((await topo.exec("server", ["nft", "list", "table", "inet", "spa"])).code, 1);
    };
    try {
      await t.step("read-only", async () => {
        unmounts.push(await tmpfs(setup.stateDir, "1m"));
        await sh("mount", "-o", "remount,ro", setup.stateDir);
        await refused(/read-only/i);
        await unmounts.pop()!();
      });
      await t.step("full", async () => {
        unmounts.push(await tmpfs(setup.stateDir, "64k"));
        // Fill it up: dd stops at ENOSPC.
        await new Deno.Command("dd", {
          args: ["if=/dev/zero", `of=${setup.stateDir}/filler`, "bs=4k"],
          stderr: "null",
        }).output();
        await refused(/no space/i);
        await unmounts.pop()!();
      });
      await t.step("missing, and cannot be made (read-only parent)", async () => {
        const parent = `${setup.dir}/ro`;
        unmounts.push(await tmpfs(parent, "64k"));
        await sh("mount", "-o", "remount,ro", parent);
        const missing: ServerSetup = { ...setup, stateDir: `${parent}/state` };
        await Deno.writeTextFile(
          setup.configPath,
          (await Deno.readTextFile(setup.configPath)).replace(
            `state_dir = ${JSON.stringify(setup.stateDir)}`,
            `state_dir = ${JSON.stringify(missing.stateDir)}`,
          ),
        );
        const out = await runToExit(topo, missing);
        equal(out.code, 1, out.lines.join("\n"));
        equal(out.lines.length, 1, out.lines.join("\n"));
        match(out.lines[0]!, /^spa-server: Cannot use state folder .*read-only/i);
        await unmounts.pop()!();
        await Deno.writeTextFile(
          setup.configPath,
          (await Deno.readTextFile(setup.configPath)).replace(
            `state_dir = ${JSON.stringify(missing.stateDir)}`,
            `state_dir = ${JSON.stringify(setup.stateDir)}`,
          ),
        );
      });
      await t.step("in use by a running daemon", async () => {
        const first = await startServer(topo, setup);
        const out = await runToExit(topo, setup);
        equal(out.code, 1, out.lines.join("\n"));
        equal(out.lines.length, 1, out.lines.join("\n"));
        match(out.lines[0]!, /another spa-server \(pid \d+\) is using it/);
        ok(await Promise.race([first.exited.then(() => false), sleep(500).then(() => true)]));
        first.kill("SIGTERM");
        equal((await first.exited).code, 0);
      });
    } finally {
      for (const unmount of unmounts) await unmount();
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
