/**
 * The nft backend's limits and checks without root (issue 12, items 1, 3 and 11): a hung nft is
 * killed at its time limit, a stopping firewall kills the run in progress and refuses queued
 * ones, the `reject` rules, and the check that tells a table changed from outside.
 */

import { equal, match, ok, rejects } from "node:assert/strict";
import { NftBackend, NftTimeoutError } from "../../lib/firewall/nft.ts";
import { startScript, tableProblem } from "../../lib/firewall/nft_script.ts";

const HANG = ["bash", "-c", "exec sleep 30", "nft"];

Deno.test("NftBackend: a hung nft is killed at the time limit, and the error says so", async () => {
  const fw = new NftBackend({ command: HANG, timeoutMs: 200 });
  const start = performance.now();
  const error = await fw.list().catch((e) => e);
  ok(error instanceof NftTimeoutError, String(error));
  equal(error.message, "Cannot list grants: nft did not finish within 200 ms (killed)");
  ok(performance.now() - start < 20_000, "not the 30 s of the hung program");
});

Deno.test("NftBackend: cancelPending kills the run in progress and refuses queued ones", async () => {
  const fw = new NftBackend({ command: HANG, timeoutMs: 25_000 });
  const running = fw.list().catch((e) => e);
  const queued = fw.list().catch((e) => e);
  await new Promise((resolve) => setTimeout(resolve, 100));
  fw.cancelPending();
  const [a, b] = await Promise.all([running, queued]);
  ok(a instanceof NftTimeoutError && b instanceof NftTimeoutError);
  match(a.message, /nft was stopped: the firewall is stopping/);
  match(b.message, /nft was not run: the firewall is stopping/);
  // Calls made afterwards run (here: the hung program again, killed at its limit).
  const after = new NftBackend({ command: HANG, timeoutMs: 100 });
  after.cancelPending();
  await rejects(after.list(), /did not finish within 100 ms/);
});

Deno.test("nft script: reject answers like a closed port (RST to TCP, ICMP to UDP)", () => {
  const ports = [
    { protocol: "tcp" as const, port: 22, idleTimeoutMs: 1000 },
    { protocol: "udp" as const, port: 53, idleTimeoutMs: 1000 },
  ];
  const script = startScript("spa", ports, "reject");
  ok(script.includes("meta l4proto tcp th dport { 22 } counter reject with tcp reset"), script);
  ok(
    script.includes(
      "meta l4proto udp th dport { 22, 53 } counter reject with icmpx port-unreachable",
    ),
    script,
  );
  ok(!script.includes("drop"), script);
  ok(startScript("spa", ports).includes("counter drop"), "drop stays the default");
});

Deno.test("nft script: tableProblem tells every change that unguards a port", () => {
  const ports = [{ protocol: "tcp" as const, port: 22, idleTimeoutMs: 1000 }];
  const table = { table: { family: "inet", name: "spa" } };
  const set = (name: string) => ({ set: { family: "inet", table: "spa", name } });
  const chain = {
    chain: {
      family: "inet",
      table: "spa",
      name: "input",
      type: "filter",
      hook: "input",
      policy: "accept",
    },
  };
  const rule = { rule: { family: "inet", table: "spa", chain: "input" } };
  const doc = (...items: unknown[]) => JSON.stringify({ nftables: items });
  const whole = [table, set("grants4"), set("grants6"), chain, rule, rule, rule, rule];
  equal(tableProblem(doc(...whole), "spa", ports), undefined);
  equal(tableProblem(doc(), "spa", ports), "the table is missing");
  equal(tableProblem(doc(table, set("grants4"), chain), "spa", ports), "set grants6 is missing");
  equal(
    tableProblem(doc(table, set("grants4"), set("grants6")), "spa", ports),
    "chain input is missing",
  );
  equal(tableProblem(doc(...whole.slice(0, -1)), "spa", ports), "chain input has 3 rules, not 4");
  const dropless = { chain: { ...chain.chain, policy: "drop" } };
  match(
    tableProblem(doc(table, set("grants4"), set("grants6"), dropless), "spa", ports)!,
    /not the filter chain/,
  );
  equal(
    tableProblem(doc(...whole, rule), "spa", ports, "reject"),
    undefined,
    "reject has one rule more",
  );
});
