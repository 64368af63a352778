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
