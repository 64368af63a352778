import { equal, throws } from "node:assert/strict";
import { ReplayCache } from "../../lib/protocol/replay_cache.ts";

const tag = (n: number) => new Uint8Array(16).fill(n);

Deno.test("ReplayCache remembers until expiry, then forgets", () => {
  const cache = new ReplayCache(4);
  equal(cache.remember(tag(1), 100, 0), true);
  equal(cache.has(tag(1), 100), true);
  equal(cache.has(tag(1), 100.5), false);
  equal(cache.has(tag(2), 0), false);
});

Deno.test("ReplayCache refuses a new tag when full of live entries, and makes room from expired ones", () => {
  const cache = new ReplayCache(2);
  equal(cache.remember(tag(1), 10, 0), true);
  equal(cache.remember(tag(2), 20, 0), true);
  equal(cache.remember(tag(3), 30, 5), false);
  equal(cache.has(tag(1), 5), true, "a live tag is never evicted");
  equal(cache.remember(tag(3), 30, 15), true, "tag 1 expired at 10 and made room");
  equal(cache.has(tag(1), 5), false);
  equal(cache.size, 2);
});

Deno.test("ReplayCache survives a JSON round trip, as after a restart", () => {
  const cache = new ReplayCache();
  cache.remember(tag(7), 500, 0);
  const restored = ReplayCache.fromJSON(JSON.parse(JSON.stringify(cache)));
  equal(restored.has(tag(7), 400), true);
  throws(() => ReplayCache.fromJSON([["zz", 1]]), TypeError);
  throws(() => ReplayCache.fromJSON({}), TypeError);
});

Deno.test("ReplayCache: when full, tags of spent contexts become spent marks, live ones stay", () => {
  const cache = new ReplayCache(2);
  const live = (context: string) => context === "n3";
  equal(cache.remember(tag(1), 100, 0, "n1", live), true);
  equal(cache.remember(tag(2), 100, 0, "n2", live), true);
  equal(cache.remember(tag(3), 100, 0, "n3", live), true, "n1 and n2 are spent: room made");
  equal(cache.size, 1);
  equal(cache.spentMarks, 2);
  equal(cache.has(tag(1), 50, "n1"), true, "a spent context refuses its old tag");
  equal(cache.has(tag(9), 50, "n2"), true, "and any other tag under it");
  equal(cache.has(tag(9), 101, "n2"), false, "until the mark expires");
  equal(cache.remember(tag(4), 100, 0, "n3", live), true);
  equal(cache.remember(tag(5), 100, 0, "n3", live), false, "full of live tags: refused");
  equal(cache.has(tag(3), 50, "n3"), true, "a live tag is never evicted");
  const restored = ReplayCache.fromJSON(JSON.parse(JSON.stringify(cache)), 2);
  restored.restoreSpent(cache.spentBytes());
  equal(cache.spentBytes().length, 16);
  equal(restored.has(tag(7), 50, "n1"), true, "spent marks survive a restart");
  equal(restored.has(tag(4), 50, "n3"), true);
  throws(() => ReplayCache.fromJSON([["#x1", 1]]), TypeError);
  throws(() => new ReplayCache().restoreSpent(new Uint8Array(7)), TypeError);
  throws(() => ReplayCache.fromJSON([["00".repeat(16), 1, "q"]]), TypeError);
});

Deno.test("ReplayCache never turns a resync minute's tags into marks (a minute can come back)", () => {
  const cache = new ReplayCache(1);
  equal(cache.remember(tag(1), 100, 0, "m5", () => false), true);
  equal(cache.remember(tag(2), 100, 0, "m6", () => false), false, "full of minute tags: refused");
  equal(cache.has(tag(1), 50, "m5"), true);
});
