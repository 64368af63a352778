/**
 * `deno task demo`: a newcomer's first look at spa, in throwaway network namespaces.
 *
 * Builds a server and a client on a virtual switch, starts `spa-server` protecting a TCP service,
 * shows a connection failing, knocks with `spa-client`, shows the connection working, waits out
 * the idle timeout, shows the port closed again, tears everything down and exits 0, saying what
 * happens at each step. Both programs run with exactly their shipped permission flags. Needs
 * root (namespaces, nftables, raw sockets); without it, one line says so and it exits 1.
 *
 * @module
 */

import { connect, startEcho } from "../harness/knocker.ts";
import { startServer, writeServerSetup } from "../harness/spa_server.ts";
import {
  createTopology,
  netnsSkipReason,
  sweepStaleNamespaces,
  type Topology,
} from "../harness/topology.ts";
import { makeClientHome } from "../tests/e2e/_client_home.ts";

const PORT = 22;
const IDLE = "3s";

let step = 0;
function say(text: string): void {
  console.log(`\n${++step}. ${text}`);
}
function detail(text: string): void {
  for (const line of text.trimEnd().split("\n")) console.log(`     ${line}`);
}

async function tryConnect(topo: Topology, address: string): Promise<string> {
  const result = await connect(topo, "client", address, PORT, 1500);
  detail(
    result === "connected"
      ? `connected: the port is open to the client`
      : `${result}: no answer at all, the port looks like nothing is there`,
  );
  return result;
}

async function main(): Promise<number> {
  const reason = await netnsSkipReason();
  if (reason !== undefined) {
    console.error(`spa demo: Cannot run: ${reason} (try: sudo deno task demo)`);
    return 1;
  }
  await sweepStaleNamespaces();
  console.log("spa demo: Single Packet Authentication, in throwaway network namespaces.");

  say("Building a small network: a server (10.77.0.1) and a client (10.77.0.2) on one switch.");
  await using topo = await createTopology(["server", "client"]);
  const cleanUp = () => {
    console.log("\nInterrupted: tearing the namespaces down.");
    topo[Symbol.asyncDispose]().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", cleanUp);
  const server = topo.host("server");
  // Protocol 2: the server holds only its own key (as `spa-client provision` writes it), derived
  // from the user's key for server_id "demo"; the client holds the user's key.
  const setup = await writeServerSetup({
    users: [{ uid: 1000, name: "alice", ports: [`tcp/${PORT}`] }],
    idleTimeout: IDLE,
    serverId: "demo",
    provisioned: true,
  });
  await using home = await makeClientHome(setup, [
    { name: "demo", address: server.ipv4, user: "alice", port: PORT },
  ]);
  try {
    say(
      `Starting a TCP service on the server, port ${PORT} (an echo server standing in for sshd).`,
    );
    await startEcho(topo, "server", PORT);

    say(
      `Starting spa-server. It closes port ${PORT} to everyone with nftables and watches every ` +
        `packet with libpcap for an authentic knock.`,
    );
    const daemon = await startServer(topo, setup);
    detail(`user alice (uid 1000) may open tcp/${PORT}; an idle grant closes after ${IDLE}`);

    say(`The client tries to connect to ${server.ipv4} port ${PORT} ...`);
    if (await tryConnect(topo, server.ipv4) === "connected") throw new Error("the port was open");

    const args = ["--host", "demo", "--port", String(PORT), "--transport", "syn"];
    say(
      `The client knocks: spa-client ${args.join(" ")}\n` +
        `   One TCP SYN carrying 37 encrypted, authenticated bytes; the server answers with a RST ` +
        `carrying a signed ack,\n   and both sides move to a new one-time sequence number.`,
    );
    const knock = await home.run(topo, args);
    if (knock.code !== 0) throw new Error(`spa-client failed: ${knock.stderr.trim()}`);
    detail(knock.stdout);
    detail(`server log: ${(await daemon.waitFor(/ accept /)).replace(/^\S+ /, "")}`);

    say(`The client connects again ...`);
    if (await tryConnect(topo, server.ipv4) !== "connected") {
      throw new Error("the knock did not open the port");
    }
    detail(`only for 10.77.0.2: any other address still finds the port closed`);

    say(
      `Nobody uses the port now. After ${IDLE} without traffic the kernel closes it by itself ...`,
    );
    detail(
      `server log: ${(await daemon.waitFor(/ close .*reason=idle/, 15_000)).replace(/^\S+ /, "")}`,
    );

    say(`The client tries once more ...`);
    if (await tryConnect(topo, server.ipv4) === "connected") {
      throw new Error("the port stayed open");
    }

    say("Tearing everything down: the namespaces, spa-server, the service and the files.");
  } finally {
    Deno.removeSignalListener("SIGINT", cleanUp);
    await Deno.remove(setup.dir, { recursive: true });
  }
  console.log("\nDone. Next: README.md (install, keygen, configs) and PROTOCOL.md (how it works).");
  return 0;
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`spa demo: Cannot finish: ${(error as Error).message}`);
  Deno.exit(1);
}
