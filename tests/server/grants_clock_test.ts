/**
 * GrantBook on two clocks (issue 12, items 4 and 9): durations on the monotonic clock, so a step
 * of the wall clock moves no expiry; retransmissions refresh a grant at most once per interval.
 */

import { equal } from "node:assert/strict";
import { GrantBook, RETRANSMIT_REFRESH_MS } from "../../lib/server/grants.ts";
import { FakeFirewall } from "./_fake_firewall.ts";
import { Logger } from "../../lib/server/log.ts";

const grant = {
  user: "alice",
  address: "10.77.0.2",
  protocol: "tcp" as const,
  port: 22,
  idleTimeoutMs: 3000,
};

Deno.test("GrantBook: a wall clock stepped back an hour changes no time left and no expiry", async () => {
  const firewall = new FakeFirewall();
  let monotonic = 1_000;
  let wall = Date.parse("2026-12-01T12:00:00Z");
  const book = new GrantBook({
    firewall,
    commands: () => ({}),
    commandTimeoutMs: 1000,
    log: new Logger("text", () => {}),
    now: () => monotonic,
    wallClock: () => wall,
  });
  await book.open(grant);
  wall -= 3_600_000;
  monotonic += 1_000;
  equal(book.snapshot()[0]?.expiresInMs, 2_000);
  equal(book.snapshot()[0]?.openedAt, "2026-12-01T12:00:00.000Z");
  firewall.live.clear(); // the kernel expires it
  monotonic += 2_500;
  await book.poll();
  equal(book.size, 0, "the expiry was noticed on time");
});

Deno.test("GrantBook: retransmissions refresh a grant at most once per interval", async () => {
  const firewall = new FakeFirewall();
  let monotonic = 0;
  const book = new GrantBook({
    firewall,
    commands: () => ({}),
    commandTimeoutMs: 1000,
    log: new Logger("text", () => {}),
    now: () => monotonic,
  });
  await book.open(grant, { retransmit: true }); // not held yet: opened
  for (let i = 0; i < 100; i++) await book.open(grant, { retransmit: true });
  equal(firewall.opens.length, 1);
  monotonic += RETRANSMIT_REFRESH_MS;
  await book.open(grant, { retransmit: true });
  equal(firewall.opens.length, 2, "refreshed once the interval passed");
  await book.open(grant);
  equal(firewall.opens.length, 3, "a new knock always refreshes");
});
