/**
 * Issue 15, goal 5: the replay cache is not a rate limit. One user knocking 50 times a second for a
 * minute (each knock rolling the sequence number, as the daemon does) is never refused for
 * capacity, and every one of those knocks replayed afterwards, within its age window, is refused.
 */

import { equal } from "node:assert/strict";
import { DEFAULT_REPLAY_CAPACITY } from "../../lib/protocol/constants.ts";
import { openWithKey } from "../../lib/protocol/open.ts";
import { contextKey, ReplayCache } from "../../lib/protocol/replay_cache.ts";
import { sealTrailer } from "../../lib/protocol/seal.ts";
import { key, NOW } from "./helpers.ts";

Deno.test("replay cache: 50 knocks/s for a minute are never refused for capacity, and none replays", () => {
  const replay = new ReplayCache(DEFAULT_REPLAY_CAPACITY);
  let sequence = 1;
  const live = (context: string) => context === contextKey("knock", sequence);
  const sent: { trailer: Uint8Array; sequence: number; at: number }[] = [];
  const reasons = new Map<string, number>();
  for (let i = 0; i < 50 * 60; i++) {
    const at = NOW + i / 50;
    const next = (sequence * 1103515245 + 12345) % 0xffff_fff0 + 1;
    const k = key("knock", sequence);
    const trailer = sealTrailer(k, {
      kind: "knock",
      protocol: "tcp",
      port: 22,
      next,
      timestamp: Math.floor(at),
    });
    const verdict = openWithKey(trailer, 0, k, { now: at, maxAge: 120, replay, live });
    const reason = verdict.ok ? "accepted" : verdict.reason;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    sent.push({ trailer, sequence, at });
    if (verdict.ok) sequence = next; // the daemon commits `next`
  }
  equal(reasons.get("accepted"), 3000, JSON.stringify([...reasons]));
  // Every knock replayed a second after the last one: under its own (spent) number's key, the one
  // an attacker would need the server to accept again, it is a replay; the cache stays bounded.
  const end = NOW + 61;
  let replays = 0;
  for (const { trailer, sequence: s } of sent) {
    const verdict = openWithKey(trailer, 0, key("knock", s), {
      now: end,
      maxAge: 120,
      replay,
      live,
    });
    if (!verdict.ok && verdict.reason === "replay") replays++;
  }
  equal(replays, 3000);
  equal(replay.size <= DEFAULT_REPLAY_CAPACITY, true);
});
