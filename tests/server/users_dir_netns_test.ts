/**
 * Issue 14: a daemon with a few thousand users from a users folder (`users_dir`). Knocks of the
 * first and the last user work; nothing is logged per user at start; a user file added or removed
 * plus SIGHUP takes effect (the removed user's grant is closed in the kernel at once); a broken
 * user file keeps that user's last good version and stops nobody else; knocks are answered while a
 * reload reads every file again. The real daemon and nft.
 */

import { equal, match } from "node:assert/strict";
import { formatKeyFile } from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { connect, exchange, Knocker, knockIn, startEcho } from "../../harness/knocker.ts";
import { grantCount, startServer, writeServerSetup } from "../../harness/spa_server.ts";
import { createTopology, netnsTest } from "../../harness/topology.ts";

const SERVER = "10.77.0.1";
const CLIENT = "10.77.0.2";
/** A second client address: the last user knocks from it alone. */
const OTHER = "10.77.0.3";
const USERS = 3_000;
const FIRST_UID = 100_000;

/** Elements in the daemon's nft sets: its live grants. */
netnsTest(
  "spa-server: thousands of users from users_dir; add, remove, break a file + SIGHUP",
  async (t) => {
    await using topo = await createTopology(["server", "client"]);
    const setup = await writeServerSetup({
      users: [],
      extra: [`users_dir = "users.d"`],
      idleTimeout: "60s",
    });
    const dir = `${setup.configDir}/users.d`;
    await Deno.mkdir(dir, { mode: 0o700 });
    const knockers = new Map<number, Knocker>();
    const writeUser = async (i: number) => {
      const uid = FIRST_UID + i;
      const secret = crypto.getRandomValues(new Uint8Array(32));
      const sequence = 1 + i;
      await Deno.writeTextFile(
        `${dir}/u${i}.key`,
        formatKeyFile({ uid, secret: new Secret(secret), sequence }),
        {
          mode: 0o600,
        },
      );
      await Deno.writeTextFile(`${dir}/u${i}.toml`, `uid = ${uid}\nports = ["tcp/22"]\n`, {
        mode: 0o644,
      });
      knockers.set(i, new Knocker({ uid, secret, sequence, serverId: setup.serverId }));
    };
    for (let i = 0; i < USERS; i += 200) {
      await Promise.all(
        Array.from({ length: Math.min(200, USERS - i) }, (_, j) => writeUser(i + j)),
      );
    }
    const last = USERS - 1;
    try {
      await startEcho(topo, "server", 22);
      const server = await startServer(topo, setup);

      await t.step("start: one summary line, no line per user", () => {
        match(server.lines.find((l) => / start /.test(l))!, new RegExp(`users=${USERS}\\b`));
        equal(server.lines.filter((l) => /user-state-new/.test(l)).length, 0);
      });

      await t.step("the first and the last user's knocks open the port", async () => {
        await topo.execOk("client", ["ip", "addr", "add", `${OTHER}/24`, "dev", "eth0"]);
        await knockIn(topo, "client", knockers.get(0)!, { src: CLIENT, dst: SERVER });
        await knockIn(topo, "client", knockers.get(last)!, { src: OTHER, dst: SERVER });
        equal(await connect(topo, "client", SERVER, 22), "connected");
        equal(await grantCount(topo), 2);
      });

      await t.step("a user file added + SIGHUP: the new user's knock works", async () => {
        await writeUser(USERS);
        server.kill("SIGHUP");
        await server.waitFor(new RegExp(` reload .*users=${USERS + 1}\\b`), 10_000, true);
        await knockIn(topo, "client", knockers.get(USERS)!, { src: CLIENT, dst: SERVER });
      });

      await t.step(
        "a user file removed + SIGHUP: her grant is revoked, her knock unanswered",
        async () => {
          const before = await grantCount(topo);
          await Deno.remove(`${dir}/u${last}.toml`);
          server.kill("SIGHUP");
          const line = await server.waitFor(/ revoke .*reason=user-removed/, 10_000, true);
          match(line, new RegExp(`user=u${last} address=${OTHER.replaceAll(".", "\\.")}`));
          equal(await grantCount(topo), before - 1);
          const { trailer } = knockers.get(last)!.knock(22);
          equal(
            await exchange(topo, "client", { src: OTHER, dst: SERVER, payload: trailer }),
            undefined,
          );
          equal(await connect(topo, "client", SERVER, 22), "connected"); // the others keep theirs
        },
      );

      await t.step(
        "a broken user file: logged with its name, her last good version kept",
        async () => {
          await Deno.writeTextFile(`${dir}/u0.toml`, `uid = ${FIRST_UID}\nports = ["tcp/22"\n`);
          server.kill("SIGHUP");
          const line = await server.waitFor(/ user-file-invalid /, 10_000, true);
          match(line, new RegExp(`file=${dir}/u0\\.toml kept=previous`));
          await server.waitFor(new RegExp(` reload .*users=${USERS}\\b`), 10_000, true);
          await knockIn(topo, "client", knockers.get(0)!, { src: CLIENT, dst: SERVER });
          await knockIn(topo, "client", knockers.get(1)!, { src: CLIENT, dst: SERVER });
        },
      );

      await t.step(
        "a knock is answered while a reload reads every user and key file again",
        async () => {
          // Files modified in the last 2 s are read again: the whole folder this time.
          const now = new Date();
          for (let i = 0; i < USERS; i += 500) {
            await Promise.all(
              Array.from({ length: Math.min(500, USERS - i) }, (_, j) => i + j)
                .filter((n) => n !== last)
                .flatMap((n) => [`${dir}/u${n}.toml`, `${dir}/u${n}.key`])
                .map((file) => Deno.utime(file, now, now)),
            );
          }
          let reloading = true;
          const reloaded = server.waitFor(/ reload /, 30_000, true).finally(() =>
            reloading = false
          );
          server.kill("SIGHUP");
          let answered = 0;
          for (let i = 0; i < 20 && reloading; i++) {
            await knockIn(topo, "client", knockers.get(2)!, { src: CLIENT, dst: SERVER });
            if (reloading) answered++;
          }
          await reloaded;
          equal(answered > 0, true, "no knock was answered before the reload line");
          await knockIn(topo, "client", knockers.get(2)!, { src: CLIENT, dst: SERVER });
        },
      );

      server.kill("SIGTERM");
      equal((await server.exited).code, 0);
    } finally {
      await Deno.remove(setup.dir, { recursive: true });
    }
  },
);
