import { equal, ok } from "node:assert/strict";
import {
  LocalAddresses,
  MISS_REFRESH_BURST,
  MISS_REFRESHES_PER_SECOND,
} from "../../lib/server/local_addresses.ts";
import { hostAddresses } from "../../ffi/interfaces.ts";

Deno.test("LocalAddresses: matches in place, IPv4 and IPv6, and re-reads on a miss within a budget", () => {
  let clock = 0;
  let reads = 0;
  let list = [new Uint8Array([10, 77, 0, 1])];
  const mine = new LocalAddresses(() => {
    reads++;
    return list;
  }, () => clock);
  equal(reads, 1);
  const frame = new Uint8Array(40);
  frame.set([10, 77, 0, 1], 4);
  ok(mine.owns(frame, 4, 4));
  equal(reads, 1, "a hit reads nothing");
  // An address added right after a read is found by the very next packet for it.
  list = [new Uint8Array([10, 77, 0, 1]), new Uint8Array([10, 77, 0, 50])];
  frame.set([10, 77, 0, 50], 4);
  ok(mine.owns(frame, 4, 4), "a new address is found by the re-read");
  equal(reads, 2);
  // A flood for another host's address: the burst, then nothing more until time passes.
  frame.set([10, 77, 0, 99], 4);
  for (let i = 0; i < 100; i++) ok(!mine.owns(frame, 4, 4));
  equal(reads, 2 + MISS_REFRESH_BURST - 1);
  clock += 1000;
  for (let i = 0; i < 100; i++) ok(!mine.owns(frame, 4, 4));
  equal(
    reads,
    2 + MISS_REFRESH_BURST - 1 + Math.min(MISS_REFRESH_BURST, MISS_REFRESHES_PER_SECOND),
  );
  const v6 = new Uint8Array(16);
  v6[0] = 0xfd;
  list = [v6];
  mine.refresh();
  ok(mine.owns(v6.slice(), 0, 16));
  equal(mine.size, 1);
});

Deno.test("LocalAddresses: a failed read keeps the addresses it had", () => {
  let fail = false;
  const mine = new LocalAddresses(() => {
    if (fail) throw new Error("Cannot list the host's addresses: test");
    return [new Uint8Array([127, 0, 0, 1])];
  }, () => 0);
  fail = true;
  ok(mine.refresh() instanceof Error);
  ok(mine.owns(new Uint8Array([127, 0, 0, 1]), 0, 4));
});

Deno.test("hostAddresses: lists loopback", () => {
  const all = hostAddresses();
  ok(
    all.some((a) => a.interface === "lo" && a.address.join(".") === "127.0.0.1"),
    JSON.stringify(all),
  );
});
