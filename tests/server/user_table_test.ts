/**
 * Issue 14: users are loaded on their first packet (no key derived, no state file read at start or
 * reload); a broken users_dir file keeps at most its user's last good version.
 */

import { deepEqual, equal, match, notEqual, ok } from "node:assert/strict";
import type { KeyFile } from "../../lib/config/key_file.ts";
import { parseCidr, SourceList } from "../../lib/config/cidr.ts";
import { Secret } from "../../lib/config/secret.ts";
import type { UserConfig } from "../../lib/config/server.ts";
import type { LoadedServerConfig } from "../../lib/config/server_load.ts";
import { Logger } from "../../lib/server/log.ts";
import { UserFiles } from "../../lib/server/user_files.ts";
import { UserTable } from "../../lib/server/user_table.ts";
import { ServerStore } from "../../lib/state/server_store.ts";

const ALL = new SourceList([parseCidr("0.0.0.0/0"), parseCidr("::/0")]);

function user(uid: number, name: string, port = 22): UserConfig {
  return {
    uid,
    name,
    keyFile: `/k/${name}.key`,
    ports: [{ protocol: "tcp", port }],
    sources: ALL,
    requireSourceBinding: false,
  };
}

function key(uid: number, fill: number): KeyFile {
  return { uid, secret: new Secret(new Uint8Array(32).fill(fill)), sequence: 7, source: "secret" };
}

function logger(lines: string[]): Logger {
  return new Logger("text", (line) => lines.push(line));
}

Deno.test("UserTable: a user's state is read on her first packet only, not at load", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const reads: number[] = [];
    const real = new ServerStore(dir);
    const store = {
      loadSync: (...args: Parameters<ServerStore["loadSync"]>) => {
        reads.push(args[0]);
        return real.loadSync(...args);
      },
    };
    const lines: string[] = [];
    const table = new UserTable({ store, log: logger(lines), commit: () => {}, now: Date.now });
    const users = Array.from({ length: 1000 }, (_, i) => user(1000 + i, `u${i}`));
    const keys = new Map(users.map((u) => [u.uid, key(u.uid, 1)]));
    await table.replace(users, keys, { serverId: "web1", replayCapacity: 16 });
    equal(table.size, 1000);
    deepEqual(reads, []);
    equal(lines.length, 0, "no line per user at load");
    const last = table.get(1999)!;
    deepEqual(reads, [1999]);
    equal(last.keys.sequence.state, "current");
    equal(table.get(1999), last, "loaded once");
    deepEqual(reads, [1999]);
    equal(table.liveCount, 1);
    equal(table.get(5), undefined);
    match(lines[0]!, /user-state-new user=u999 uid=1999/);

    // Reload: same key keeps the live user (new policy); a new key drops her live state.
    const renamed = users.map((u) => u.uid === 1999 ? user(1999, "u999", 2222) : u);
    await table.replace(renamed, keys, { serverId: "web1", replayCapacity: 16 });
    equal(table.get(1999), last);
    equal(last.policy.ports[0]!.port, 2222);
    const rekeyed = new Map(keys).set(1999, key(1999, 2));
    await table.replace(renamed, rekeyed, { serverId: "web1", replayCapacity: 16 });
    notEqual(table.get(1999), last);
    // Removed from the config: gone.
    await table.replace(renamed.slice(0, 10), rekeyed, { serverId: "web1", replayCapacity: 16 });
    equal(table.get(1999), undefined);
    equal(table.size, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("UserTable: an unreadable state file refuses that user only, with one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/users`);
    await Deno.writeTextFile(`${dir}/users/1000.json`, "{ not json");
    const lines: string[] = [];
    const table = new UserTable({
      store: new ServerStore(dir),
      log: logger(lines),
      commit: () => {},
      now: Date.now,
    });
    await table.replace(
      [user(1000, "alice"), user(1001, "bob")],
      new Map([
        [1000, key(1000, 1)],
        [1001, key(1001, 1)],
      ]),
      { serverId: "web1", replayCapacity: 16 },
    );
    equal(table.get(1000), undefined);
    equal(table.get(1000), undefined);
    ok(table.get(1001) !== undefined);
    equal(lines.filter((l) => /user-state-unreadable user=alice/.test(l)).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function loaded(
  users: { user: UserConfig; file: string }[],
  broken: { file: string; problems: string[] }[],
): LoadedServerConfig {
  return {
    config: { users: users.map((u) => u.user), ports: [], idleTimeoutMs: 1000 } as never,
    keys: new Map(users.map((u) => [u.user.uid, key(u.user.uid, 1)])),
    userFiles: new Map(users.map((u) => [u.user.uid, u.file])),
    broken,
  };
}

Deno.test("UserFiles: a broken file keeps her last good version only; a new broken file loads nobody", () => {
  const lines: string[] = [];
  const log = logger(lines);
  const files = new UserFiles();
  const alice = { user: user(1000, "alice"), file: "/d/alice.toml" };
  const bob = { user: user(1001, "bob"), file: "/d/bob.toml" };
  files.apply(loaded([alice, bob], []), log);
  // alice's file breaks: her last good version stays; a new broken file (carol) loads nobody.
  const second = files.apply(
    loaded([bob], [
      { file: "/d/alice.toml", problems: ["/d/alice.toml: ports[0]: bad"] },
      { file: "/d/carol.toml", problems: ["/d/carol.toml: not TOML"] },
    ]),
    log,
  );
  deepEqual(second.config.users.map((u) => u.name).sort(), ["alice", "bob"]);
  deepEqual(second.config.ports.map((p) => p.key), ["tcp/22"]);
  match(
    lines[0]!,
    /user-file-invalid file=\/d\/alice\.toml kept=previous reason="?ports\[0\]: bad/,
  );
  match(lines[1]!, /user-file-invalid file=\/d\/carol\.toml kept=none/);
  // Still broken next time: still her last good version (not a newer, broken one).
  const third = files.apply(
    loaded([bob], [{ file: "/d/alice.toml", problems: ["/d/alice.toml: x"] }]),
    log,
  );
  deepEqual(third.config.users.map((u) => u.name).sort(), ["alice", "bob"]);
  // Her file deleted: she is gone (her grants are then revoked by the daemon).
  const fourth = files.apply(loaded([bob], []), log);
  deepEqual(fourth.config.users.map((u) => u.name), ["bob"]);
  // A good file now claiming her uid wins over her last good version.
  files.apply(loaded([alice, bob], []), log);
  const fifth = files.apply(
    loaded([bob, { user: user(1000, "mallory"), file: "/d/mallory.toml" }], [
      { file: "/d/alice.toml", problems: ["/d/alice.toml: x"] },
    ]),
    log,
  );
  deepEqual(fifth.config.users.map((u) => u.name).sort(), ["bob", "mallory"]);
  match(lines.at(-1)!, /kept=none/);
});
