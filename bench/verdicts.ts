/**
 * Verdicts per second on one core (`deno task bench`): how fast the protocol core refuses junk and
 * accepts knocks. The daemon runs exactly these steps per captured trailer: read the UID, look the
 * user up, try the user's keys, and only for an authentic tag decrypt and check the rest.
 *
 * Targets (issue 2): forged-tag rejection >= 500,000/s, unknown-UID rejection >= 5,000,000/s.
 */

import { deriveMessageKey, type MessageKey } from "../lib/protocol/key_schedule.ts";
import { findKey, openWithKey } from "../lib/protocol/open.ts";
import { minuteOf } from "../lib/protocol/random.ts";
import { ReplayCache } from "../lib/protocol/replay_cache.ts";
import { sealTrailer } from "../lib/protocol/seal.ts";
import { readUid } from "../lib/protocol/uid.ts";

const USERS = 100;
const secret = crypto.getRandomValues(new Uint8Array(32));
const now = Math.floor(Date.now() / 1000);
const seq = 0x01020304;

// The daemon's table: uid -> keys always tried (knock and check under the current number).
const users = new Map<number, MessageKey[]>();
for (let uid = 1000; uid < 1000 + USERS; uid++) {
  users.set(uid, [
    deriveMessageKey(secret, uid, "knock", seq),
    deriveMessageKey(secret, uid, "check", seq),
  ]);
}
const minute = minuteOf(now);
const resyncKeys = [-1, 0, 1].map((d) => deriveMessageKey(secret, 1000, "resync", minute + d));

function pool(n: number, fill: (buf: Uint8Array, i: number) => void): Uint8Array {
  const buf = new Uint8Array(n * 37);
  for (let i = 0; i < n; i++) fill(buf.subarray(i * 37, i * 37 + 37), i);
  return buf;
}
const POOL = 4096;
const unknown = pool(POOL, (b) => {
  crypto.getRandomValues(b);
  b[0] = 0xff; // uid >= 2^40 - 2^32: nobody
});
const forged = pool(POOL, (b, i) => {
  crypto.getRandomValues(b);
  b.set([0, 0, 0, (1000 + (i % USERS)) >> 8, (1000 + (i % USERS)) & 0xff]);
});
const knockKey = users.get(1000)![0]!;
const valid = pool(
  POOL,
  (b, i) =>
    b.set(
      sealTrailer(knockKey, {
        kind: "knock",
        protocol: "tcp",
        port: 22,
        next: i + 10,
        timestamp: now,
      }),
    ),
);

let sink = 0;
function bench(
  name: string,
  data: Uint8Array,
  step: (data: Uint8Array, offset: number) => void,
): [string, number] {
  // warm up
  for (let i = 0; i < 200_000; i++) step(data, (i % POOL) * 37);
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < 1500) {
    for (let i = 0; i < 50_000; i++, n++) step(data, (n % POOL) * 37);
    elapsed = performance.now() - t0;
  }
  return [name, (n / elapsed) * 1000];
}

const rows: [string, number, number | undefined][] = [];
let r = bench("unknown UID", unknown, (d, o) => {
  if (users.get(readUid(d, o)) === undefined) sink++;
});
rows.push([r[0], r[1], 5_000_000]);
r = bench("known UID, forged tag (knock + check keys)", forged, (d, o) => {
  const keys = users.get(readUid(d, o));
  if (keys !== undefined && findKey(d, o, keys) === undefined) sink++;
});
rows.push([r[0], r[1], 500_000]);
r = bench("known UID, forged tag, + 3 resync minutes", forged, (d, o) => {
  const keys = users.get(readUid(d, o));
  if (
    keys !== undefined && findKey(d, o, keys) === undefined &&
    findKey(d, o, resyncKeys) === undefined
  ) sink++;
});
rows.push([r[0], r[1], undefined]);
let replay = new ReplayCache(POOL);
r = bench("valid knock (tag, decrypt, fields, age, replay cache)", valid, (d, o) => {
  // Each trailer is valid once: a fresh cache per pass over the pool keeps every verdict an accept.
  if (o === 0) replay = new ReplayCache(POOL);
  const keys = users.get(readUid(d, o))!;
  const key = findKey(d, o, keys)!;
  if (openWithKey(d, o, key, { now, maxAge: 120, replay }).ok) sink++;
});
rows.push([r[0], r[1], undefined]);

console.log(`\nspa verdicts per second, one core (Deno ${Deno.version.deno}, ${USERS} users)\n`);
console.log("| trailer | verdicts/s | target | ratio to target |");
console.log("|---|---:|---:|---:|");
for (const [name, rate, target] of rows) {
  const t = target === undefined ? "-" : target.toLocaleString("en-US");
  const ratio = target === undefined ? "-" : `${(rate / target).toFixed(2)}x`;
  console.log(`| ${name} | ${Math.round(rate).toLocaleString("en-US")} | ${t} | ${ratio} |`);
}
if (sink === 0) console.log("(nothing counted?)");
