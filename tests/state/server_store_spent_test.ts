import { equal } from "node:assert/strict";
import { ReplayCache } from "../../lib/protocol/replay_cache.ts";
import { ServerStore } from "../../lib/state/server_store.ts";
import { statOrUndefined } from "../../lib/config/_read.ts";

const tag = (n: number) => new Uint8Array(16).fill(n);

Deno.test("ServerStore keeps spent marks apart, written when they change, read back for the same key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = new ServerStore(dir);
    const replay = new ReplayCache(1);
    const record = { sequence: { state: "current" as const, sequence: 9 }, replay };
    await store.save(1000, "fp1", record);
    equal(await exists(`${dir}/users/1000.spent`), false, "no marks, no file");
    replay.remember(tag(1), 500, 0, "n7");
    equal(replay.remember(tag(2), 500, 0, "n9", (c) => c === "n9"), true, "n7 spent: room made");
    await store.save(1000, "fp1", record);
    equal((await Deno.stat(`${dir}/users/1000.spent`)).size, 4 + 8);
    const loaded = await store.load(1000, "fp1", 1, 1);
    equal(loaded.replay.has(tag(5), 400, "n7"), true, "the mark came back after a restart");
    equal(loaded.replay.has(tag(2), 400, "n9"), true, "and the live tag");
    const otherKey = await new ServerStore(dir).load(1000, "fp2", 1, 1);
    equal(otherKey.replay.has(tag(5), 400, "n7"), false, "marks of another key are ignored");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const exists = async (path: string) => await statOrUndefined(path) !== undefined;
