/**
 * Races between the grant book, the table rebuild and revocation: a grant re-opened while `poll`
 * closes others is kept; a table rebuild never writes back a grant being revoked, and removes
 * again one the daemon let go of while the rebuild ran.
 */

import { deepStrictEqual, equal } from "node:assert/strict";
import type { Grant } from "../../lib/firewall/backend.ts";
import { NftTimeoutError } from "../../lib/firewall/nft_runner.ts";
import { Counters } from "../../lib/server/counters.ts";
import { GrantBook, type GrantFirewall } from "../../lib/server/grants.ts";
import { FakeFirewall } from "./_fake_firewall.ts";
import { Logger } from "../../lib/server/log.ts";
import { TableWatch } from "../../lib/server/table_watch.ts";

const grant = (address: string, port: number) => ({
  user: "alice",
  address,
  protocol: "tcp" as const,
  port,
  idleTimeoutMs: 1000,
});

function book(firewall: GrantFirewall, now: () => number, lines: string[] = []): GrantBook {
  return new GrantBook({
    firewall,
    // on_close of tcp/22 takes a while, so poll is suspended between two closes.
    commands: (port) => port.port === 22 ? { onClose: ["sleep", "0.3"] } : {},
    commandTimeoutMs: 5000,
    log: new Logger("text", (line) => lines.push(line)),
    now,
  });
}

Deno.test("GrantBook.poll: a grant re-opened while poll closes another is kept", async () => {
  const firewall = new FakeFirewall();
  let clock = 0;
  const grants = book(firewall, () => clock);
  await grants.open(grant("10.77.0.2", 22));
  await grants.open(grant("10.77.0.3", 443));
  // The kernel expired both; poll closes 10.77.0.2 first and waits for its on_close.
  firewall.live.clear();
  clock = 5_000;
  const polling = grants.poll();
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Meanwhile a fresh knock opens 10.77.0.3 again.
  await grants.open(grant("10.77.0.3", 443));
  await polling;
  equal(grants.holds({ address: "10.77.0.3", protocol: "tcp", port: 443 }), true);
  equal(grants.size, 1);
});

/** A firewall table that is always found changed, and records what a rebuild wrote. */
class LostTable {
  readonly table = "spa";
  restored: Grant[][] = [];
  closed: string[] = [];
  duringRestore: () => void = () => {};
  verify() {
    return Promise.resolve("the table is missing");
  }
  restore(grants: () => readonly Grant[]) {
    this.duringRestore();
    const written = [...grants()];
    this.restored.push(written);
    return Promise.resolve(written);
  }
  close(target: Grant) {
    this.closed.push(target.address);
    return Promise.resolve();
  }
  spawnMonitor(): Deno.ChildProcess {
    throw new Error("no monitor in this test");
  }
}

function watch(table: LostTable, grants: GrantBook): TableWatch {
  return new TableWatch({
    firewall: table,
    grants: () => grants.restoring(),
    holds: (g) => grants.holds(g),
    log: new Logger("text", () => {}),
    counters: new Counters(),
    now: () => performance.now(),
  });
}

Deno.test("TableWatch: a rebuild never writes back a grant being revoked", async () => {
  const grants = book(new FakeFirewall(), () => 0);
  await grants.open(grant("10.77.0.2", 443));
  await grants.open(grant("10.77.0.3", 443));
  const table = new LostTable();
  let closeRevoked!: () => void;
  const revoking = grants.revoke(
    { address: "10.77.0.2", protocol: "tcp", port: 443 },
    "revoked-user-removed",
    () => new Promise<void>((resolve) => (closeRevoked = resolve)),
  );
  await watch(table, grants).check();
  deepStrictEqual(table.restored.map((r) => r.map((g) => g.address)), [["10.77.0.3"]]);
  closeRevoked();
  await revoking;
  equal(grants.holds({ address: "10.77.0.2", protocol: "tcp", port: 443 }), false);
});

Deno.test("TableWatch: a grant let go of while the rebuild ran is removed again", async () => {
  const grants = book(new FakeFirewall(), () => 0);
  await grants.open(grant("10.77.0.2", 443));
  const table = new LostTable();
  // The rebuild read the book, then the grant was closed (an expiry seen by poll, say).
  table.restore = (read) => {
    const written = [...read()];
    table.restored.push(written);
    return grants.forget({ address: "10.77.0.2", protocol: "tcp", port: 443 }, "idle")
      .then(() => written);
  };
  await watch(table, grants).check();
  deepStrictEqual(table.closed, ["10.77.0.2"]);
});

Deno.test("GrantBook.open: a new grant whose nft run timed out is taken out again", async () => {
  const firewall = new FakeFirewall();
  firewall.open = (g) => {
    // nft made the change, then hung and was killed.
    firewall.live.set(g.address, { ...g, expiresInMs: g.timeoutMs });
    return Promise.reject(new NftTimeoutError("nft did not finish within 1000 ms (killed)"));
  };
  const grants = book(firewall, () => 0);
  let thrown: unknown;
  await grants.open(grant("10.77.0.2", 443)).catch((error) => (thrown = error));
  equal(thrown instanceof NftTimeoutError, true);
  await new Promise((resolve) => setTimeout(resolve, 0));
  deepStrictEqual(firewall.closed, ["10.77.0.2"]);
  equal(firewall.live.size, 0);
  equal(grants.size, 0);
});
