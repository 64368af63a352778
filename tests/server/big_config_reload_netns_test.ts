/**
 * Issue 14: a reload of a changed server.toml with thousands of `[[users]]` tables (parsed and
 * checked in slices, `lib/config/_toml_split.ts`): knocks are answered while it runs, and the new
 * config is the one in force afterwards (a user whose table was removed is refused, the others
 * still work). Functional, not timed: the figures are in `deno task bench:scale`.
 */

import { equal } from "node:assert/strict";
import { exchange, Knocker, knockIn } from "../../harness/knocker.ts";
import { startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
const USERS = 3_000;

netnsTest(
  "spa-server: knocks answered while a changed 3,000-user server.toml reloads",
  async () => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: Array.from({ length: USERS }, (_, i) => ({
        uid: 50_000 + i,
        name: `u${i}`,
        ports: ["tcp/22"],
      })),
    });
    const knocker = (i: number) => new Knocker(setup.users[i]!);
    const first = knocker(0);
    const last = knocker(USERS - 1);
    const gone = knocker(USERS - 2);
    try {
      const server = await startServer(topo, setup);
      await knockIn(topo, "client", first, { src: CLIENT, dst: SERVER });

      // The change: user u2998's table removed, idle_timeout changed. Every key file is touched so
      // that the reload reads them all again (a longer reload, for knocks to land in it).
      const text = await Deno.readTextFile(setup.configPath);
      const removed = `[[users]]\nuid = ${50_000 + USERS - 2}\n`;
      const start = text.indexOf(removed);
      const end = text.indexOf("[[users]]", start + removed.length);
      equal(start > 0 && end > start, true, "the config should hold the removed user's table");
      await Deno.writeTextFile(
        setup.configPath,
        (text.slice(0, start) + text.slice(end)).replace(
          `idle_timeout = "5m"`,
          `idle_timeout = "4m"`,
        ),
      );
      const now = new Date();
      for (let i = 0; i < USERS; i += 500) {
        await Promise.all(
          setup.users.slice(i, i + 500).map((u) =>
            Deno.utime(`${setup.configDir}/keys/${u.name}.key`, now, now)
          ),
        );
      }
      let reloading = true;
      const reloaded = server.waitFor(new RegExp(` reload .*users=${USERS - 1}\\b`), 30_000, true)
        .finally(() => reloading = false);
      server.kill("SIGHUP");
      let answered = 0;
      for (let i = 0; i < 20 && reloading; i++) {
        await knockIn(topo, "client", first, { src: CLIENT, dst: SERVER });
        if (reloading) answered++;
      }
      await reloaded;
      equal(answered > 0, true, "no knock was answered before the reload line");

      await knockIn(topo, "client", last, { src: CLIENT, dst: SERVER });
      equal(
        await exchange(topo, "client", {
          src: CLIENT,
          dst: SERVER,
          payload: gone.knock(22).trailer,
        }),
        undefined,
        "the removed user's knock should get no answer",
      );
      server.kill("SIGTERM");
      equal((await server.exited).code, 0);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
