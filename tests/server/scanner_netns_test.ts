/**
 * Issue 12, item 11: what nmap sees from a host that never knocked. With the default
 * `protected_response = "drop"` the guarded port is the one that stands out (filtered among
 * closed ports); with `"reject"` it answers exactly like the host's closed ports (same verdict, same
 * reason, same TTL, for TCP and UDP), while knocks over both transports still open it.
 */

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { connect, startEcho } from "../../harness/knocker.ts";
import { ALICE, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest, type Topology } from "../../harness/topology.ts";
import { makeClientHome } from "../e2e/_client_home.ts";
import { startSniffer } from "../../harness/pcap_file.ts";

const SERVER = "10.77.0.1";
const PORTS = "20-24";

/** nmap's verdict and reason per port, e.g. `{ "22/tcp": "closed reset ttl 64" }`. */
async function nmap(topo: Topology, scan: "-sS" | "-sU"): Promise<Record<string, string>> {
  const out = await topo.execOk("attacker", [
    "nmap",
    "-n",
    "-Pn",
    scan,
    "--reason",
    "-p",
    PORTS,
    SERVER,
  ]);
  const ports: Record<string, string> = {};
  for (const m of out.matchAll(/^(\d+\/(?:tcp|udp))\s+(\S+)\s+\S+\s+(.+?)\s*$/gm)) {
    ports[m[1]!] = `${m[2]} ${m[3]}`;
  }
  equal(Object.keys(ports).length, 5, `nmap printed:\n${out}`);
  return ports;
}

function same(ports: Record<string, string>): void {
  const verdicts = new Set(Object.values(ports));
  equal(verdicts.size, 1, `ports differ: ${JSON.stringify(ports)}`);
}

netnsTest(
  "spa-server: nmap tells the guarded port from its neighbours only in drop mode",
  async (t) => {
    await using topo = await createTopology(["server", "client", "attacker"], { noOffload: true });
    await startEcho(topo, "server", 22);
    const setup = await writeServerSetup({ users: [ALICE] });
    const server = await startServer(topo, setup);
    try {
      await t.step("drop (the default): 22 is the one port nmap -sS shows filtered", async () => {
        const tcp = await nmap(topo, "-sS");
        console.log(`drop, nmap -sS: ${JSON.stringify(tcp)}`);
        ok(tcp["22/tcp"]!.startsWith("filtered"), JSON.stringify(tcp));
        ok(tcp["21/tcp"]!.startsWith("closed"), JSON.stringify(tcp));
      });

      await t.step("a reload switches to reject", async () => {
        const config = await Deno.readTextFile(setup.configPath);
        await Deno.writeTextFile(setup.configPath, `protected_response = "reject"\n${config}`);
        const reloaded = server.waitFor(/ reload /, 10_000, true);
        server.kill("SIGHUP");
        await reloaded;
      });

      await t.step("reject: nmap -sS sees five identical closed ports", async () => {
        const pcap = `${setup.dir}/answers.pcap`;
        const sniffer = await startSniffer(topo, "attacker", pcap, `src host ${SERVER}`);
        const tcp = await nmap(topo, "-sS");
        await sniffer.stop();
        console.log(`reject, nmap -sS: ${JSON.stringify(tcp)}`);
        same(tcp);
        ok(tcp["22/tcp"]!.startsWith("closed reset"), JSON.stringify(tcp));
        // Every header field of the answers but ports and sequence numbers is the same.
        const out = await topo.execOk("attacker", ["tcpdump", "-n", "-v", "-r", pcap]);
        const shapes = new Set(
          out.replace(/\n\s+/g, " ").split("\n").filter((l) => l.includes("Flags [R")).map((l) =>
            l.replace(/^\S+ /, "").replace(/\.\d+ > /, " > ").replace(/\.\d+: /, ": ")
              .replace(/ack \d+/, "ack N").replace(/, cksum 0x[0-9a-f]+ \(\w+\)/, "")
          ),
        );
        console.log(`reject, the RSTs nmap got: ${[...shapes].join(" | ")}`);
        equal(shapes.size, 1, [...shapes].join("\n"));
      });

      await t.step("reject: nmap -sU sees five identical closed ports", async () => {
        const udp = await nmap(topo, "-sU");
        console.log(`reject, nmap -sU: ${JSON.stringify(udp)}`);
        same(udp);
        ok(udp["22/udp"]!.startsWith("closed port-unreach"), JSON.stringify(udp));
      });

      await t.step("reject: spa-client opens the port over both transports", async () => {
        await using home = await makeClientHome(setup, [
          { name: "web", address: SERVER, user: "alice", port: 22 },
        ]);
        for (const transport of ["syn", "udp"]) {
          const run = await home.run(topo, ["--host", "web", "--transport", transport, "--json"]);
          equal(run.code, 0, `${transport}: ${run.stderr}`);
          equal(JSON.parse(run.stdout).attempts, 1, `${transport} needed a retry`);
        }
        equal(await connect(topo, "client", SERVER, 22), "connected");
        equal(await connect(topo, "attacker", SERVER, 22), "refused", "a closed port to others");
        const tcp = await nmap(topo, "-sS");
        same(tcp);
        deepStrictEqual(Object.keys(tcp).length, 5);
      });
    } finally {
      server.kill("SIGTERM");
      await server.exited;
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
