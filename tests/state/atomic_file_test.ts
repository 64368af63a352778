import { deepEqual, equal, rejects } from "node:assert/strict";
import { MODULE_FLAGS } from "../../lib/permissions.ts";
import {
  cleanTempFiles,
  isTempFileName,
  readFileIfExists,
  readTextFileIfExists,
  TEMP_FILE_GRACE_MS,
  writeFileAtomic,
} from "../../lib/state/atomic_file.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spa-atomic-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("writeFileAtomic replaces a file, mode 0600 by default, leaving no temp file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    equal(await readFileIfExists(path), undefined);
    equal(await readTextFileIfExists(path), undefined);
    await writeFileAtomic(path, "one");
    equal(await readTextFileIfExists(path), "one");
    equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]), { mode: 0o640 });
    deepEqual(await readFileIfExists(path), new Uint8Array([1, 2, 3]));
    equal((await Deno.stat(path)).mode! & 0o777, 0o640);
    await writeFileAtomic(path, "");
    equal(await readTextFileIfExists(path), "");
    deepEqual(names(dir), ["state.json"]);
  });
});

Deno.test("a failed write leaves the target as it was and removes its temp file", async () => {
  await withDir(async (dir) => {
    await rejects(writeFileAtomic(`${dir}/missing/state`, "x"), Deno.errors.NotFound);
    // A folder in the way: the rename fails after the temp file was written.
    await Deno.mkdir(`${dir}/busy`);
    await Deno.writeTextFile(`${dir}/busy/keep`, "k");
    await rejects(writeFileAtomic(`${dir}/busy`, "x"));
    deepEqual(names(dir), ["busy"]);
    equal(await readTextFileIfExists(`${dir}/busy/keep`), "k");
  });
});

Deno.test("cleanTempFiles removes only stale, unlocked temp files of that target", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state`;
    const old = new Date(Date.now() - 10 * TEMP_FILE_GRACE_MS);
    const stale = `${dir}/.state.tmp-999999-abc`;
    const fresh = `${dir}/.state.tmp-999999-def`;
    const locked = `${dir}/.state.tmp-999999-ghi`;
    const other = `${dir}/.other.tmp-999999-abc`;
    for (const p of [stale, fresh, locked, other]) await Deno.writeTextFile(p, "half");
    for (const p of [stale, locked, other]) await Deno.utime(p, old, old);
    await Deno.writeTextFile(path, "real");
    using holder = await Deno.open(locked, { read: true, write: true });
    await holder.lock(true);
    equal(await cleanTempFiles(path), 1);
    deepEqual(names(dir), [
      ".other.tmp-999999-abc",
      ".state.tmp-999999-def",
      ".state.tmp-999999-ghi",
      "state",
    ]);
    await holder.unlock();
    equal(await cleanTempFiles(path), 1, "the unlocked one goes");
    deepEqual(names(dir), [".other.tmp-999999-abc", ".state.tmp-999999-def", "state"]);
    equal(await cleanTempFiles(`${dir}/nothing/here`), 0);
    equal(isTempFileName(".state.tmp-999999-def"), true);
    equal(isTempFileName("state"), false);
  });
});

Deno.test("the first write to a target sweeps stale temp files", async () => {
  await withDir(async (dir) => {
    const stale = `${dir}/.swept.tmp-1-zz`;
    await Deno.writeTextFile(stale, "{");
    const old = new Date(Date.now() - 10 * TEMP_FILE_GRACE_MS);
    await Deno.utime(stale, old, old);
    await writeFileAtomic(`${dir}/swept`, "{}");
    deepEqual(names(dir), ["swept"]);
  });
});

// A child writes the file as fast as it can and is killed with SIGKILL at a random moment, over and
// over: the file must always parse, hold a counter that never goes back, and be complete.
const WRITER = (moduleUrl: string) => `
import { writeFileAtomic } from ${JSON.stringify(moduleUrl)};
const [path] = Deno.args;
let n = JSON.parse(Deno.readTextFileSync(path)).n;
const pad = "x".repeat(64 * 1024);
for (;;) {
  n++;
  const text = JSON.stringify({ n, pad, check: n });
  await writeFileAtomic(path, text);
}
`;

Deno.test("SIGKILL at random moments never leaves a torn or empty file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/counter.json`;
    const script = `${dir}/writer.ts`;
    await Deno.writeTextFile(
      script,
      WRITER(new URL("../../lib/state/atomic_file.ts", import.meta.url).href),
    );
    await writeFileAtomic(path, JSON.stringify({ n: 0, pad: "", check: 0 }));
    const deadline = Date.now() + 60_000;
    let last = 0;
    let kills = 0;
    for (let round = 0; round < 16 && Date.now() < deadline; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...MODULE_FLAGS,
          "--allow-read",
          "--allow-write",
          script,
          path,
        ],
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // Wait until the child is writing, then let it run a random while before killing it.
      const started = Date.now();
      while (Date.now() - started < 10_000) {
        const n = JSON.parse((await readTextFileIfExists(path))!).n as number;
        if (n > last) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stderr.cancel();
      equal(status.signal, "SIGKILL", "the child must die by the signal, not by an error");
      kills++;
      const text = await readTextFileIfExists(path);
      equal(typeof text, "string");
      const value = JSON.parse(text!) as { n: number; pad: string; check: number };
      equal(value.check, value.n, "complete record");
      equal(value.pad.length, value.n === 0 ? 0 : 64 * 1024);
      equal(value.n >= last, true, `the counter went back from ${last} to ${value.n}`);
      equal(value.n > last, true, "the child made progress");
      last = value.n;
    }
    equal(kills >= 8, true, `only ${kills} rounds ran`);
    // Temp files of killed writers are never read, and are swept once stale.
    const old = new Date(Date.now() - 10 * TEMP_FILE_GRACE_MS);
    for (const name of names(dir).filter(isTempFileName)) {
      await Deno.utime(`${dir}/${name}`, old, old);
    }
    await cleanTempFiles(path);
    deepEqual(names(dir), ["counter.json", "writer.ts"]);
  });
});
