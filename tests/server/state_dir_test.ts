import { equal, match, ok, rejects } from "node:assert/strict";
import { holdStateDir, PID_FILE, stateDirHolder } from "../../lib/server/state_dir.ts";

Deno.test("holdStateDir: creates the folder, records the pid, keeps a second holder off, releases", async () => {
  const root = await Deno.makeTempDir();
  const dir = `${root}/state`;
  try {
    equal((await stateDirHolder(dir).catch(() => ({ running: false }))).running, false);
    const hold = await holdStateDir(dir);
    equal((await Deno.readTextFile(`${dir}/${PID_FILE}`)).trim(), String(Deno.pid));
    const holder = await stateDirHolder(dir);
    equal(holder.running, true);
    equal(holder.pid, Deno.pid);
    await rejects(holdStateDir(dir), (error: Error) => {
      match(error.message, /^Cannot use state folder .*another spa-server \(pid \d+\) is using it/);
      return true;
    });
    ok((await stateDirHolder(dir)).running, "a refused second start leaves the lock alone");
    await hold.release();
    await hold.release();
    equal((await stateDirHolder(dir)).running, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("stateDirHolder: a pid file nobody locks (a killed daemon) is not a running daemon", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${PID_FILE}`, "4242\n");
    const holder = await stateDirHolder(dir);
    equal(holder.running, false);
    equal(holder.pid, 4242);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("holdStateDir: a path that is a file is refused with one clear message", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    await rejects(holdStateDir(`${dir}/file`), /^Error: Cannot use state folder /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("holdStateDir: a status look (a shared lock for an instant) does not stop a start", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/${PID_FILE}`, "");
    const look = await Deno.open(`${dir}/${PID_FILE}`, { read: true });
    ok(await look.tryLock(false), "the shared lock status takes");
    setTimeout(() => look.close(), 120);
    const hold = await holdStateDir(dir);
    equal((await stateDirHolder(dir)).running, true);
    await hold.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
