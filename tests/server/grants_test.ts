import { deepStrictEqual, equal } from "node:assert/strict";
import { GrantBook } from "../../lib/server/grants.ts";
import { FakeFirewall } from "./_fake_firewall.ts";
import { Logger } from "../../lib/server/log.ts";

Deno.test("GrantBook: a new grant is opened fresh, a repeat refreshes; commands run once per port", async () => {
  const firewall = new FakeFirewall();
  let clock = 0;
  const lines: string[] = [];
  const marks = await Deno.makeTempDir();
  const book = new GrantBook({
    firewall,
    commands: () => ({ onOpen: ["touch", `${marks}/open`], onClose: ["rm", `${marks}/open`] }),
    commandTimeoutMs: 5000,
    log: new Logger("text", (line) => lines.push(line)),
    now: () => clock,
  });
  const grant = (address: string) => ({
    user: "alice",
    address,
    protocol: "tcp" as const,
    port: 22,
    idleTimeoutMs: 1000,
  });
  await book.open(grant("10.77.0.2"));
  await book.open(grant("10.77.0.2"));
  await book.open(grant("10.77.0.3"));
  deepStrictEqual(firewall.opens.map((o) => o.fresh), [true, false, true]);
  equal(lines.filter((l) => l.includes("command=on_open")).length, 1, "on_open once for the port");
  await Deno.stat(`${marks}/open`);

  // The kernel expires one grant. Before the earliest expiry the kernel is not even asked.
  firewall.live.delete("10.77.0.2");
  await book.poll();
  equal(book.size, 2, "not asked before the grants could expire");
  clock = 2_000;
  await book.poll();
  equal(book.size, 1);
  equal(lines.filter((l) => l.includes("command=on_close")).length, 0);
  // The last one goes: on_close runs (once the kernel's last reported time for it has passed).
  firewall.live.delete("10.77.0.3");
  clock = 4_000;
  await book.poll();
  equal(book.size, 0);
  equal(lines.filter((l) => / close .*reason=idle/.test(l)).length, 2);
  equal(lines.filter((l) => l.includes("command-done command=on_close")).length, 1);
  let removed = false;
  try {
    await Deno.stat(`${marks}/open`);
  } catch {
    removed = true;
  }
  equal(removed, true, "on_close ran");
  // After expiry, the same address is fresh again.
  await book.open(grant("10.77.0.2"));
  equal(firewall.opens.at(-1)?.fresh, true);
  await Deno.remove(marks, { recursive: true });
});
