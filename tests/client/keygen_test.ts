/** `spa-client keygen`: the key file, its mode, the stanzas, and the secret kept out of output. */

import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { loadKeyFile } from "../../lib/config/key_file.ts";
import { parseClientConfig } from "../../lib/config/client.ts";
import { parseServerConfig } from "../../lib/config/server.ts";
import { secretFromPassphrase } from "../../lib/protocol/passphrase.ts";
import { deriveServerKey, keyFingerprint } from "../../lib/protocol/key_schedule.ts";
import { makeHome, runClient } from "./_helpers.ts";

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test("keygen writes a 0600 key file and prints both stanzas, never the secret", async () => {
  await using home = await makeHome();
  const run = await runClient(home.dir, [
    "keygen",
    "--uid",
    "1001",
    "--name",
    "bob",
    "--host",
    "web1",
    "--address",
    "10.77.0.1",
  ]);
  equal(run.code, 0, run.stderr);
  const path = `${home.dir}/.config/spa/keys/bob.key`;
  equal((await Deno.stat(path)).mode! & 0o777, 0o600);
  const key = await loadKeyFile(path);
  equal(key.uid, 1001);
  const secret = key.secret.bytes();
  ok(!run.stdout.includes(base64(secret)), "the secret was printed");
  ok(!run.stderr.includes(base64(secret)), "the secret was printed");
  // The fingerprint is that of the key of server web1 (what the server will hold).
  match(
    run.stdout,
    new RegExp(`key fingerprint ${keyFingerprint(deriveServerKey(secret, "web1"), 1001)}`),
  );

  // Each stanza parses with its config's own parser and names this key.
  const server = /Server, in [^\n]*:\n([\s\S]*?)\n\n/.exec(run.stdout)![1]!;
  const serverConfig = parseServerConfig(server, { path: "/etc/spa/server.toml" });
  deepStrictEqual(
    serverConfig.users.map((u) => [u.uid, u.name, u.keyFile]),
    [[1001, "bob", "/etc/spa/keys/bob.key"]],
  );
  equal(serverConfig.serverId, "web1");
  const client = /Client, in [^\n]*:\n([\s\S]*)$/.exec(run.stdout)![1]!;
  const clientConfig = parseClientConfig(client, {
    env: (n) => (n === "HOME" ? home.dir : undefined),
  });
  const host = clientConfig.hosts[0]!;
  deepStrictEqual([host.name, host.address, host.uid, host.keyFile, host.port], [
    "web1",
    "10.77.0.1",
    1001,
    path,
    22,
  ]);

  // An existing key file is never replaced.
  const again = await runClient(home.dir, ["keygen", "--uid", "1001", "--name", "bob"]);
  equal(again.code, 1);
  match(again.stderr, /^spa-client: Cannot write key file .*bob\.key: it already exists/);
  deepStrictEqual((await loadKeyFile(path)).secret.bytes(), secret);
});

Deno.test("keygen --out and --passphrase-file: the secret is the stretched passphrase", async () => {
  await using home = await makeHome();
  const passphraseFile = `${home.dir}/passphrase`;
  await Deno.writeTextFile(passphraseFile, "correct horse battery staple\n");
  const out = `${home.dir}/elsewhere/keys`;
  const run = await runClient(home.dir, [
    "keygen",
    "--uid",
    "7",
    "--name",
    "carol",
    "--out",
    out,
    "--passphrase-file",
    passphraseFile,
    "--json",
  ]);
  equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout);
  equal(result.keyFile, `${out}/carol.key`);
  ok(!run.stdout.includes("correct horse"), "the passphrase was printed");
  const key = await loadKeyFile(result.keyFile);
  deepStrictEqual(key.secret.bytes(), secretFromPassphrase("correct horse battery staple", 7));
  equal((await Deno.stat(out)).mode! & 0o777, 0o700);

  await Deno.writeTextFile(passphraseFile, "too short\n");
  const short = await runClient(home.dir, [
    "keygen",
    "--uid",
    "7",
    "--name",
    "dave",
    "--passphrase-file",
    passphraseFile,
  ]);
  equal(short.code, 2);
  match(short.stderr, /Cannot use the passphrase: it is shorter than 12 characters/);
});
