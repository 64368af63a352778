/**
 * GrantBook on two clocks (issue 12, items 4 and 9): durations on the monotonic clock, so a step
 * of the wall clock moves no expiry; retransmissions refresh a grant at most once per interval.
 */

import { equal } from "node:assert/strict";
import {
  GrantBook,
  type GrantFirewall,
  type KernelGrant,
  RETRANSMIT_REFRESH_MS,
} from "../../lib/server/grants.ts";
import { Logger } from "../../lib/server/log.ts";

class FakeFirewall implements GrantFirewall {
  opens = 0;
  lists = 0;
  live = new Map<string, KernelGrant>();
  open(grant: { address: string; protocol: "tcp" | "udp"; port: number; timeoutMs: number }) {
    this.opens++;
    this.live.set(grant.address, { ...grant, expiresInMs: grant.timeoutMs });
    return Promise.resolve();
  }
  list() {
    this.lists++;
    return Promise.resolve([...this.live.values()]);
  }
  close(grant: { address: string }) {
    this.live.delete(grant.address);
    return Promise.resolve();
  }
}

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
  equal(firewall.opens, 1);
  monotonic += RETRANSMIT_REFRESH_MS;
  await book.open(grant, { retransmit: true });
  equal(firewall.opens, 2, "refreshed once the interval passed");
  await book.open(grant);
  equal(firewall.opens, 3, "a new knock always refreshes");
});
