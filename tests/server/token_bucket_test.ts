import { equal } from "node:assert/strict";
import { TokenBucket } from "../../lib/server/token_bucket.ts";

Deno.test("TokenBucket: refills at its rate, up to its burst", () => {
  const bucket = new TokenBucket(1, 2, 0);
  equal(bucket.take(1, 0), true);
  equal(bucket.take(1, 0), true);
  equal(bucket.take(1, 0), false);
  equal(bucket.take(1, 999), false);
  equal(bucket.take(1, 1000), true);
  equal(bucket.has(2, 60_000), true, "full again");
  equal(bucket.has(3, 60_000), false, "never above its burst");
});

Deno.test("TokenBucket: a wall clock stepped back an hour does not freeze it", () => {
  const hour = 3_600_000;
  const bucket = new TokenBucket(1, 1, 10 * hour);
  equal(bucket.take(1, 10 * hour), true);
  // The clock steps back an hour: one second later (on the new clock) there is a token again.
  equal(bucket.take(1, 9 * hour), false);
  equal(bucket.take(1, 9 * hour + 1000), true);
});
