/**
 * spa-server gives the program file's pages back (`ProgramPages`, lib/server/release_heap.ts) on
 * its once-a-second tick after packets, and does nothing while no packet comes. Seen from outside
 * with strace: the `madvise(MADV_DONTNEED)` calls on the Deno binary's read-only mappings of the
 * running daemon (V8's own `madvise` calls on its heap are told apart by address).
 */

import { equal, ok } from "node:assert/strict";
import { Knocker, knockIn, send, sleep, startEcho } from "../../harness/knocker.ts";
import { startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";

/** The address ranges of `pid`'s read-only mappings of its own executable. */
async function programRanges(pid: number): Promise<[bigint, bigint][]> {
  const exe = await Deno.readLink(`/proc/${pid}/exe`);
  const ranges: [bigint, bigint][] = [];
  for (const line of (await Deno.readTextFile(`/proc/${pid}/maps`)).split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (m !== null && m[4] === exe && !m[3]!.includes("w")) {
      ranges.push([BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)]);
    }
  }
  return ranges;
}

/** Counts `pid`'s `madvise(MADV_DONTNEED)` calls on `ranges` while `during` runs. */
async function releasesDuring(
  pid: number,
  ranges: [bigint, bigint][],
  during: () => Promise<void>,
): Promise<number> {
  const out = await Deno.makeTempFile({ prefix: "spa-strace-" });
  const strace = new Deno.Command("strace", {
    args: ["-qq", "-f", "-e", "trace=madvise", "-o", out, "-p", String(pid)],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await sleep(500); // attached
    await during();
  } finally {
    strace.kill("SIGINT");
    await strace.status;
  }
  const text = await Deno.readTextFile(out);
  await Deno.remove(out);
  let count = 0;
  for (const m of text.matchAll(/madvise\((0x[0-9a-f]+), \d+, MADV_DONTNEED\)/g)) {
    const address = BigInt(m[1]!);
    if (ranges.some(([start, end]) => address >= start && address < end)) count++;
  }
  return count;
}

netnsTest(
  "spa-server: gives the program file's pages back on the tick after packets, never while idle",
  async () => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
      idleTimeout: "3s",
      // The links' own chatter (IPv6 router solicitations, multicast reports) is filtered in the
      // kernel, so that "idle" means no packet reaches the daemon.
      extra: [`bpf_filter = "ip and (udp or tcp)"`],
    });
    await startEcho(topo, "server", 22);
    const server = await startServer(topo, setup);
    try {
      const pid = server.child.pid;
      const ranges = await programRanges(pid);
      ok(ranges.length > 0, "the daemon maps its program file");
      const { ipv4: dst } = topo.host("server");
      const { ipv4: src } = topo.host("client");
      await sleep(1_500); // the start's release is behind a tick
      const idle = await releasesDuring(pid, ranges, () => sleep(3_500));
      equal(idle, 0, `no release while no packet comes (${idle})`);
      const alice = new Knocker(setup.users[0]!);
      const busy = await releasesDuring(pid, ranges, async () => {
        await knockIn(topo, "client", alice, { src, dst });
        for (let i = 0; i < 20; i++) {
          await send(topo, "client", {
            src,
            dst,
            proto: "udp",
            port: 9,
            payload: new Uint8Array(40),
          });
        }
        await sleep(1_500); // the next tick
      });
      ok(busy >= 1, `a release after the knock (${busy})`);
    } finally {
      await server.stop("SIGTERM");
    }
  },
);
