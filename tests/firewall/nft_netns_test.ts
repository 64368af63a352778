/**
 * The nft backend against a real kernel: hosts in network namespaces, a real TCP service in the
 * server namespace, probes from the client and attacker namespaces. Idle timeouts are 2 s so the
 * whole file takes seconds.
 */

import { deepEqual, equal } from "node:assert/strict";
import { MODULE_FLAGS } from "../../lib/permissions.ts";
import { NftBackend } from "../../lib/firewall/nft.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";

const PORT = 2200; // protected, a TCP echo service listens here
const CLOSED = 2300; // not protected, nothing listens: the kernel answers RST / ICMP here
const IDLE_MS = 2_000;
const SSH = { protocol: "tcp", port: PORT, idleTimeoutMs: IDLE_MS } as const;

const ECHO_SERVER = `
const listener = Deno.listen({ hostname: "::", port: Number(Deno.args[0]) });
console.log("listening");
for await (const conn of listener) conn.readable.pipeTo(conn.writable).catch(() => {});
`;

// Connects, then sends a line every interval and expects its echo within a second.
const HOLD_CLIENT = `
const [host, port, interval, count] = Deno.args;
const conn = await Deno.connect({ hostname: host, port: Number(port) });
const buf = new Uint8Array(64);
for (let i = 0; i < Number(count); i++) {
  await conn.write(new TextEncoder().encode("ping " + i + "\\n"));
  const n = await Promise.race([conn.read(buf), new Promise((r) => setTimeout(() => r(0), 1000))]);
  if (!n) { console.log("no echo for ping " + i); Deno.exit(1); }
  await new Promise((r) => setTimeout(r, Number(interval)));
}
console.log("ok");
Deno.exit(0);
`;

// Opens a grant, then waits to be killed with SIGKILL (a crashed daemon).
const DOOMED_DAEMON = (moduleUrl: string) => `
import { NftBackend } from ${JSON.stringify(moduleUrl)};
const fw = new NftBackend({ table: Deno.args[0] });
await fw.start([{ protocol: "tcp", port: ${PORT}, idleTimeoutMs: ${IDLE_MS} }]);
await fw.open({ address: Deno.args[1], protocol: "tcp", port: ${PORT}, timeoutMs: ${IDLE_MS} });
console.log("open");
setInterval(() => {}, 1000);
`;

type Outcome = "connected" | "refused" | "timeout";

/** A TCP connect from `role` to host:port, given 800 ms (a dropped SYN is only resent after 1 s). */
async function connect(topo: Topology, role: string, host: string, port = PORT): Promise<Outcome> {
  const result = await topo.exec(role, [
    "timeout",
    "0.8",
    "bash",
    "-c",
    `exec 3<>/dev/tcp/${host}/${port}`,
  ]);
  if (result.code === 0) return "connected";
  if (result.code === 124) return "timeout";
  if (/refused/i.test(result.stderr)) return "refused";
  throw new Error(`Cannot probe ${host}:${port}: exit ${result.code}: ${result.stderr.trim()}`);
}

/** Sends one UDP datagram from `role` to host:port. */
async function sendUdp(topo: Topology, role: string, host: string, port: number): Promise<void> {
  await topo.execOk(role, ["bash", "-c", `echo knock > /dev/udp/${host}/${port}`]);
}

/** Kernel counters of the server namespace: ICMP(v6) unreachables sent and TCP RSTs sent. */
async function counters(topo: Topology): Promise<{ icmp: number; icmp6: number; rsts: number }> {
  const snmp = await topo.execOk("server", ["cat", "/proc/net/snmp", "/proc/net/snmp6"]);
  const lines = snmp.split("\n");
  const field = (prefix: string, name: string) => {
    const rows = lines.filter((line) => line.startsWith(`${prefix}:`));
    const names = rows[0]!.split(/\s+/);
    return Number(rows[1]!.split(/\s+/)[names.indexOf(name)]);
  };
  const icmp6 = /Icmp6OutDestUnreachs\s+(\d+)/.exec(snmp);
  return {
    icmp: field("Icmp", "OutDestUnreachs"),
    icmp6: Number(icmp6![1]),
    rsts: field("Tcp", "OutRsts"),
  };
}

/** Applies an nft script in the server namespace (independently of the backend). */
async function applyScript(topo: Topology, script: string): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "spa-fw-", suffix: ".nft" });
  try {
    await Deno.writeTextFile(path, script + "\n");
    await topo.execOk("server", ["nft", "-f", path]);
  } finally {
    await Deno.remove(path);
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` is true, polling every 100 ms for at most `ms`; returns the time taken. */
async function waitFor(check: () => Promise<boolean>, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await check()) return Date.now() - start;
    await sleep(100);
  }
  throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
}

/** Writes a script to a temp file and runs it with deno in `role`'s namespace. */
async function spawnScript(
  topo: Topology,
  role: string,
  source: string,
  args: string[],
): Promise<{ child: Deno.ChildProcess; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "spa-fw-" });
  await Deno.writeTextFile(`${dir}/script.ts`, source);
  const child = topo.spawn(role, [
    Deno.execPath(),
    "run",
    ...MODULE_FLAGS,
    "-A",
    `${dir}/script.ts`,
    ...args,
  ]);
  return { child, dir };
}

/** Reads the first line a child prints. */
async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!text.includes("\n") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0]!;
}

async function setUp(): Promise<{ topo: Topology; fw: NftBackend; dirs: string[] }> {
  const topo = await createTopology(["server", "client", "attacker"]);
  const dirs: string[] = [];
  try {
    const fw = new NftBackend({ command: ["ip", "netns", "exec", topo.host("server").ns, "nft"] });
    const server = await spawnScript(topo, "server", ECHO_SERVER, [String(PORT)]);
    dirs.push(server.dir);
    equal(await firstLine(server.child), "listening");
    await fw.start([SSH]);
    return { topo, fw, dirs };
  } catch (error) {
    await topo[Symbol.asyncDispose]();
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

netnsTest(
  "nft backend: a protected port opens for one IPv4 address and closes when idle",
  async (t) => {
    const { topo, fw, dirs } = await setUp();
    await using _topo = topo;
    try {
      const server = topo.host("server").ipv4;
      const client = topo.host("client").ipv4;

      await t.step("before a grant: SYNs are dropped silently, UDP draws no ICMP", async () => {
        const before = await counters(topo);
        equal(await connect(topo, "client", server), "timeout");
        equal(await connect(topo, "attacker", server), "timeout");
        await sendUdp(topo, "client", server, PORT);
        await sleep(100);
        const after = await counters(topo);
        equal(after.rsts, before.rsts, "no RST for the protected port");
        equal(after.icmp, before.icmp, "no ICMP port-unreachable for UDP to the protected port");
        // Controls: an unprotected closed port does answer, so the counters above could have moved.
        equal(await connect(topo, "client", server, CLOSED), "refused");
        await sendUdp(topo, "client", server, CLOSED);
        await sleep(100);
        const control = await counters(topo);
        equal(control.rsts > after.rsts, true, "the closed port answered with a RST");
        equal(control.icmp > after.icmp, true, "the closed UDP port answered with ICMP");
        equal(
          (await topo.exec("server", ["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${PORT}`])).code,
          0,
          "loopback is not guarded",
        );
      });

      await t.step("after open: the client connects, the attacker still cannot", async () => {
        await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
        equal(await connect(topo, "client", server), "connected");
        equal(await connect(topo, "attacker", server), "timeout");
        const grants = await fw.list();
        equal(grants.length, 1);
        const grant = grants[0]!;
        deepEqual({ ...grant, expiresInMs: 0 }, {
          address: client,
          protocol: "tcp",
          port: PORT,
          timeoutMs: IDLE_MS,
          expiresInMs: 0,
        });
        equal(grant.expiresInMs > 0 && grant.expiresInMs <= IDLE_MS, true, `${grant.expiresInMs}`);
      });

      await t.step(
        "without traffic the grant closes after the idle timeout, in the kernel",
        async () => {
          const took = await waitFor(async () => (await fw.list()).length === 0, 5_000, "expiry");
          equal(took > IDLE_MS / 2, true, `closed after only ${took} ms`);
          equal(await connect(topo, "client", server), "timeout");
        },
      );

      await t.step(
        "a connection that keeps sending stays open past twice the timeout",
        async () => {
          await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
          const started = Date.now();
          const hold = await spawnScript(topo, "client", HOLD_CLIENT, [
            server,
            String(PORT),
            "500",
            "10",
          ]);
          dirs.push(hold.dir);
          const output = await hold.child.output();
          const text = new TextDecoder().decode(output.stdout).trim();
          equal(text, "ok", new TextDecoder().decode(output.stderr));
          equal(Date.now() - started > 2 * IDLE_MS, true, "the session outlived two idle timeouts");
          await waitFor(
            async () => (await fw.list()).length === 0,
            5_000,
            "expiry after the session",
          );
        },
      );

      await t.step("a repeat open refreshes the grant; a plain nft add would not", async () => {
        const attacker = topo.host("attacker").ipv4;
        await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
        await fw.open({ address: attacker, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
        await sleep(1_200);
        await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
        await topo.execOk("server", [
          "nft",
          "add element inet spa grants4 { " + attacker + ` . tcp . ${PORT} timeout ${IDLE_MS}ms }`,
        ]);
        await sleep(1_200);
        const addresses = (await fw.list()).map((g) => g.address);
        deepEqual(addresses, [client], "only the refreshed grant outlived its first timeout");
        await fw.close({ address: client, protocol: "tcp", port: PORT });
        deepEqual(await fw.list(), []);
        equal(await connect(topo, "client", server), "timeout", "close shuts it at once");
      });

      await t.step("a killed daemon leaves nothing open past the timeout", async () => {
        const daemon = await spawnScript(
          topo,
          "server",
          DOOMED_DAEMON(new URL("../../lib/firewall/nft.ts", import.meta.url).href),
          ["spa", client],
        );
        dirs.push(daemon.dir);
        equal(await firstLine(daemon.child), "open");
        daemon.child.kill("SIGKILL");
        await daemon.child.status;
        // The probe is the last traffic; probing again would refresh the grant, so watch the set.
        equal(await connect(topo, "client", server), "connected");
        const took = await waitFor(
          async () => (await fw.list()).length === 0,
          IDLE_MS + 3_000,
          "expiry",
        );
        equal(took >= IDLE_MS - 1_000, true, `closed too early (${took} ms)`);
        equal(await connect(topo, "client", server), "timeout");
      });

      await t.step(
        "with a host ruleset of policy drop, the host must accept the port too",
        async () => {
          const admin = [
            "table inet admin {",
            "  chain input {",
            "    type filter hook input priority filter; policy drop;",
            "    ct state established,related accept",
            '    iif "lo" accept',
            "  }",
            "}",
          ].join("\n");
          await applyScript(topo, admin);
          await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
          equal(
            await connect(topo, "client", server),
            "timeout",
            "the host's drop wins over our accept",
          );
          await applyScript(topo, `add rule inet admin input tcp dport ${PORT} accept`);
          equal(await connect(topo, "client", server), "connected");
          equal(
            await connect(topo, "attacker", server),
            "timeout",
            "spa still decides who gets in",
          );
          await applyScript(topo, "delete table inet admin");
        },
      );

      await t.step("start flushes stale grants", async () => {
        await fw.start([SSH]);
        await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: 60_000 });
        const fresh = new NftBackend({
          command: ["ip", "netns", "exec", topo.host("server").ns, "nft"],
        });
        await fresh.start([SSH]);
        deepEqual(await fresh.list(), []);
        equal(await connect(topo, "client", server), "timeout");
      });

      await t.step("stop removes the table", async () => {
        await fw.stop();
        const tables = await topo.execOk("server", ["nft", "list", "tables"]);
        equal(tables.includes("inet spa"), false, tables);
        equal(await connect(topo, "attacker", server), "connected", "no rule is left behind");
        deepEqual(await fw.list(), []);
      });
    } finally {
      for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

netnsTest("nft backend: IPv6 grants, and UDP to the port draws no ICMPv6", async (t) => {
  const { topo, fw, dirs } = await setUp();
  await using _topo = topo;
  try {
    const server = topo.host("server").ipv6;
    const client = topo.host("client").ipv6;

    await t.step("before a grant the port is silent over IPv6", async () => {
      const before = await counters(topo);
      equal(await connect(topo, "client", server), "timeout");
      await sendUdp(topo, "client", server, PORT);
      await sleep(100);
      const after = await counters(topo);
      equal(after.rsts, before.rsts);
      equal(after.icmp6, before.icmp6, "no ICMPv6 port-unreachable");
      equal(await connect(topo, "client", server, CLOSED), "refused");
      await sendUdp(topo, "client", server, CLOSED);
      await sleep(100);
      equal((await counters(topo)).icmp6 > after.icmp6, true, "the control draws ICMPv6");
    });

    await t.step("open for the client's IPv6 address", async () => {
      await fw.open({ address: client, protocol: "tcp", port: PORT, timeoutMs: IDLE_MS });
      equal(await connect(topo, "client", server), "connected");
      equal(await connect(topo, "attacker", server), "timeout");
      equal(await connect(topo, "client", topo.host("server").ipv4), "timeout", "IPv4 stays shut");
      deepEqual((await fw.list()).map((g) => [g.address, g.protocol, g.port]), [[
        client,
        "tcp",
        PORT,
      ]]);
      await fw.close({ address: client, protocol: "tcp", port: PORT });
      equal(await connect(topo, "client", server), "timeout");
      await fw.stop();
    });
  } finally {
    for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
