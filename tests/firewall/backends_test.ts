import { deepEqual, equal, rejects } from "node:assert/strict";
import { FirewallError } from "../../lib/firewall/backend.ts";
import { NftBackend, type NftResult } from "../../lib/firewall/nft.ts";
import { NoneBackend } from "../../lib/firewall/none.ts";

const SSH = { protocol: "tcp", port: 22, idleTimeoutMs: 2_000 } as const;
const grant = (
  address: string,
  timeoutMs = 2_000,
) => ({ address, protocol: "tcp", port: 22, timeoutMs } as const);

Deno.test("NoneBackend keeps grants in memory with their expiry", async () => {
  let now = 1_000_000;
  const lines: string[] = [];
  const fw = new NoneBackend({ now: () => now, log: (line) => lines.push(line) });
  equal(fw.kind, "none");
  await fw.start([SSH]);
  await fw.open(grant("10.77.0.2"));
  await fw.open(grant("FD77::2", 5_000));
  now += 1_500;
  deepEqual(await fw.list(), [
    { address: "10.77.0.2", protocol: "tcp", port: 22, timeoutMs: 2_000, expiresInMs: 500 },
    { address: "fd77::2", protocol: "tcp", port: 22, timeoutMs: 5_000, expiresInMs: 3_500 },
  ]);
  await fw.open(grant("10.77.0.2"));
  now += 1_000;
  equal((await fw.list()).find((g) => g.address === "10.77.0.2")?.expiresInMs, 1_000, "refreshed");
  now += 1_000;
  deepEqual((await fw.list()).map((g) => g.address), ["fd77::2"], "expired");
  await fw.close({ address: "fd77::2", protocol: "tcp", port: 22 });
  await fw.close({ address: "fd77::9", protocol: "tcp", port: 22 });
  deepEqual(await fw.list(), []);
  await rejects(fw.open({ address: "10.77.0.2", protocol: "udp", port: 22, timeoutMs: 1 }), {
    name: "RangeError",
    message: "Cannot open grant: udp/22 is not a protected port",
  });
  await rejects(fw.open(grant("not-an-address")), TypeError);
  await fw.open(grant("10.77.0.3"));
  await fw.start([SSH]);
  deepEqual(await fw.list(), [], "start drops stale grants");
  await fw.stop();
  deepEqual(lines, [
    "firewall none: would protect tcp/22",
    "firewall none: would open tcp/22 for 10.77.0.2 (2000 ms)",
    "firewall none: would open tcp/22 for fd77::2 (5000 ms)",
    "firewall none: would open tcp/22 for 10.77.0.2 (2000 ms)",
    "firewall none: would close tcp/22 for fd77::2",
    "firewall none: would open tcp/22 for 10.77.0.3 (2000 ms)",
    "firewall none: would protect tcp/22",
    "firewall none: stopped",
  ]);
});

/** An NftBackend whose nft is a recorder answering from `answer`. */
function fakeNft(
  answer: (args: readonly string[], stdin?: string) => Partial<NftResult> = () => ({}),
) {
  const calls: { args: readonly string[]; stdin: string | undefined }[] = [];
  const fw = new NftBackend({
    table: "spa_test",
    run: async (args, stdin) => {
      calls.push({ args, stdin });
      await new Promise((r) => setTimeout(r, Math.random() * 3));
      return { code: 0, stdout: "", stderr: "", ...answer(args, stdin) };
    },
  });
  return { fw, calls };
}

Deno.test("NftBackend runs nft with its scripts (one transaction each), one call at a time, in order", async () => {
  const { fw, calls } = fakeNft((args) =>
    args.includes("-j") ? { stdout: JSON.stringify({ nftables: [] }) } : {}
  );
  equal(fw.kind, "nft");
  await Promise.all([
    fw.start([SSH]),
    fw.open(grant("10.77.0.2")),
    fw.open(grant("10.77.0.3")),
    fw.close({ address: "10.77.0.2", protocol: "tcp", port: 22 }),
    fw.list(),
    fw.stop(),
  ]);
  deepEqual(calls.map((c) => c.args.join(" ")), [
    "",
    "",
    "",
    "",
    "-j list table inet spa_test",
    "",
  ]);
  equal(calls[0]!.stdin!.startsWith("add table inet spa_test\ndelete table inet spa_test\n"), true);
  equal(calls[1]!.stdin!.includes("10.77.0.2 . tcp . 22 timeout 2000ms"), true);
  equal(calls[2]!.stdin!.includes("10.77.0.3"), true);
  equal(
    calls[3]!.stdin!.includes("delete element inet spa_test grants4 { 10.77.0.2 . tcp . 22 }"),
    true,
  );
  equal(calls[5]!.stdin, "delete table inet spa_test\n");
});

Deno.test("NftBackend refuses grants before start and on unprotected ports", async () => {
  const { fw, calls } = fakeNft();
  await rejects(fw.open(grant("10.77.0.2")), {
    name: "FirewallError",
    message: "Cannot open grant: the firewall was not started",
  });
  await rejects(fw.reconfigure([SSH]), FirewallError);
  await fw.start([SSH]);
  await rejects(fw.open({ ...grant("10.77.0.2"), port: 23 }), RangeError);
  await rejects(fw.open(grant("10.77.0.2", 0)), RangeError);
  await fw.reconfigure([{ ...SSH, port: 23 }]);
  await fw.open({ ...grant("10.77.0.2"), port: 23 });
  await rejects(fw.open(grant("10.77.0.2")), RangeError, "tcp/22 is no longer protected");
  equal(calls.length, 3, "refused calls never reach nft");
});

Deno.test("NftBackend turns nft failures into FirewallError with nft's words", async () => {
  const { fw } = fakeNft(() => ({
    code: 1,
    stderr: "\nError: Could not process rule: Operation not permitted\nadd table inet spa_test\n",
  }));
  await rejects(fw.start([SSH]), {
    name: "FirewallError",
    message:
      "Cannot start the firewall: nft exited with code 1: Error: Could not process rule: Operation not permitted",
  });
  const missing = fakeNft(() => ({
    code: 1,
    stderr: "Error: No such file or directory\nlist table inet spa_test",
  }));
  deepEqual(await missing.fw.list(), [], "no table, no grants");
  await missing.fw.stop();
  const garbled = fakeNft(() => ({ stdout: "{" }));
  await rejects(garbled.fw.list(), {
    name: "FirewallError",
    message: "Cannot list grants: nft printed no valid JSON",
  });
  const absent = new NftBackend({ command: ["/nonexistent/nft"] });
  await rejects(absent.list(), {
    name: "FirewallError",
    message: "Cannot run nft: it is not installed (Debian package nftables)",
  });
});

Deno.test("NftBackend with keepTableOnStop only empties the sets", async () => {
  const calls: string[] = [];
  const fw = new NftBackend({
    keepTableOnStop: true,
    run: (_args, stdin) => {
      calls.push(stdin ?? "");
      return Promise.resolve({ code: 0, stdout: "", stderr: "" });
    },
  });
  await fw.stop();
  deepEqual(calls, ["flush set inet spa grants4\nflush set inet spa grants6\n"]);
});
