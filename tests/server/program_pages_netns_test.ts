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

type Range = [bigint, bigint];

/** The address ranges of `pid`'s mappings of its own executable: read-only, and writable. */
async function programRanges(pid: number): Promise<{ readOnly: Range[]; writable: Range[] }> {
  const exe = await Deno.readLink(`/proc/${pid}/exe`);
  const readOnly: Range[] = [];
  const writable: Range[] = [];
  for (const line of (await Deno.readTextFile(`/proc/${pid}/maps`)).split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (m === null || m[4] !== exe) continue;
    (m[3]!.includes("w") ? writable : readOnly).push([BigInt(`0x${m[1]}`), BigInt(`0x${m[2]}`)]);
  }
  return { readOnly, writable };
}

/** `pid`'s `madvise(MADV_DONTNEED)` calls (start and length) while `during` runs (strace). */
async function releasesDuring(pid: number, during: () => Promise<void>): Promise<Range[]> {
  const out = await Deno.makeTempFile({ prefix: "spa-strace-" });
  try {
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
    return [...text.matchAll(/madvise\((0x[0-9a-f]+), (\d+), MADV_DONTNEED\)/g)].map((m) => {
      const start = BigInt(m[1]!);
      return [start, start + BigInt(m[2]!)];
    });
  } finally {
    await Deno.remove(out);
  }
}

/** How many of `calls` fall inside one of `ranges`. */
const inside = (calls: Range[], ranges: Range[]) =>
  calls.filter(([start, end]) => ranges.some(([s, e]) => start >= s && end <= e)).length;

/** How many of `calls` touch one of `ranges`. */
const touching = (calls: Range[], ranges: Range[]) =>
  calls.filter(([start, end]) => ranges.some(([s, e]) => start < e && end > s)).length;

const straceMissing = new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then(() => undefined, () => "strace is not installed (Debian: strace)");

netnsTest(
  "spa-server: gives the program file's pages back on the tick after packets, never while idle",
  async (t) => {
    const missing = await straceMissing;
    if (missing !== undefined) {
      console.warn(`skipped: ${missing}`);
      return;
    }
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [{ uid: 1000, name: "alice", ports: ["tcp/22"] }],
      idleTimeout: "3s",
      // The links' own chatter (IPv6 router solicitations, multicast reports) is filtered in the
      // kernel, so that "idle" means no packet reaches the daemon.
      extra: [`bpf_filter = "ip and (udp or tcp)"`],
    });
    try {
      await startEcho(topo, "server", 22);
      const server = await startServer(topo, setup);
      try {
        const pid = server.child.pid;
        const { readOnly, writable } = await programRanges(pid);
        ok(readOnly.length > 0 && writable.length > 0, "the daemon maps its program file");
        const { ipv4: dst } = topo.host("server");
        const { ipv4: src } = topo.host("client");
        const alice = new Knocker(setup.users[0]!);
        await sleep(1_500); // the start's release is behind a tick
        await t.step("no release while no packet comes", async () => {
          equal(inside(await releasesDuring(pid, () => sleep(3_500)), readOnly), 0);
        });
        await t.step("a release on the tick after a knock, of read-only pages only", async () => {
          const calls = await releasesDuring(pid, async () => {
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
          ok(inside(calls, readOnly) >= 1, `a release after the knock (${calls.length} calls)`);
          equal(touching(calls, writable), 0, "never a writable page of the program");
        });
        await t.step("knocks after the releases are served", async () => {
          for (let i = 0; i < 2; i++) {
            await sleep(1_200); // each after a tick's release
            await knockIn(topo, "client", alice, { src, dst });
          }
        });
      } finally {
        await server.stop("SIGTERM");
      }
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
