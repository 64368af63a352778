/**
 * The udp transport names a failed send's cause by the error's errno name (`code`), not by its
 * message text: the client in a network namespace of its own (`unshare -n`, gone with the process)
 * where the server's network has no route, or an `unreachable` one.
 */

import { match as assertMatch, strictEqual as assertEquals } from "node:assert/strict";
import { netnsTest } from "../../harness/topology.ts";
import { makeHome, runClient } from "./_helpers.ts";

/** Runs the client for host `far` (10.77.9.1) in a fresh network namespace set up by `setup`. */
async function knockFrom(setup: string): Promise<{ code: number; stderr: string }> {
  await using home = await makeHome();
  await Deno.writeTextFile(
    home.configPath,
    `[hosts.far]\naddress = "10.77.9.1"\nuid = ${home.uid}\nkey_file = "${home.keyFile}"\n` +
      `port = 22\ntransport = "udp"\nbind_source = "none"\ntimeout = "300ms"\nretries = 1\n`,
  );
  const wrapper = ["unshare", "-n", "--", "sh", "-c", `${setup}\nexec "$@"`, "sh"];
  return await runClient(home.dir, ["--host", "far"], wrapper);
}

const CASES = [
  {
    name: "udp send: no route to the server's network reads ENETUNREACH",
    setup: "ip link set lo up",
    sentence: "the network is unreachable (ENETUNREACH)",
  },
  {
    name: "udp send: an unreachable route reads EHOSTUNREACH",
    setup: "ip link set lo up && ip route add unreachable 10.77.9.0/24",
    sentence: "the host is unreachable (EHOSTUNREACH)",
  },
];

for (const { name, setup, sentence } of CASES) {
  netnsTest(name, async () => {
    const run = await knockFrom(setup);
    assertEquals(run.code, 1, run.stderr);
    assertMatch(
      run.stderr,
      new RegExp(RegExp.escape(`Cannot send to 10.77.9.1 port 22: ${sentence}`)),
    );
  });
}
