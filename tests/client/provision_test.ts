/**
 * `spa-client provision`: from the client's key (the fleet's master key), the one key file a server
 * needs, holding only that server's key and naming its server_id; and server key files refused
 * anywhere else.
 */

import { deepStrictEqual, equal, match, ok, throws } from "node:assert/strict";
import { keyForServer, loadKeyFile, parseKeyFile } from "../../lib/config/key_file.ts";
import { parseServerConfig } from "../../lib/config/server.ts";
import { deriveServerKey, keyFingerprint } from "../../lib/protocol/key_schedule.ts";
import { makeHome, runClient } from "./_helpers.ts";

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

Deno.test("provision prints a server key file for the host's server_id, never the master key", async () => {
  await using home = await makeHome();
  await Deno.writeTextFile(
    home.configPath,
    `[hosts.web2]\naddress = "10.77.0.2"\nserver_id = "web2.example.org"\nuid = ${home.uid}\n` +
      `key_file = "${home.keyFile}"\nport = 2222\n`,
  );
  const run = await runClient(home.dir, ["provision", "--host", "web2"]);
  equal(run.code, 0, run.stderr);
  const key = parseKeyFile(run.stdout);
  equal(key.source, "server-key");
  equal(key.serverId, "web2.example.org");
  equal(key.uid, home.uid);
  equal(key.sequence, home.sequence);
  const expected = deriveServerKey(home.secret, "web2.example.org");
  deepStrictEqual(key.secret.bytes(), expected);
  ok(!run.stdout.includes(b64(home.secret)) && !run.stderr.includes(b64(home.secret)));
  // The instructions (on stderr, so stdout can be piped to the server) parse as a server config.
  const stanza = /server\.toml:\n([\s\S]*)$/.exec(run.stderr)![1]!;
  const config = parseServerConfig(stanza, { path: "/etc/spa/server.toml" });
  equal(config.serverId, "web2.example.org");
  deepStrictEqual(config.users.map((u) => [u.uid, u.name, u.ports[0]!.port]), [
    [home.uid, "alice", 2222],
  ]);
  match(run.stderr, new RegExp(`key fingerprint ${keyFingerprint(expected, home.uid)}`));
});

Deno.test("provision --out writes mode 0600 and never over an existing file", async () => {
  await using home = await makeHome();
  const out = `${home.dir}/web1-alice.key`;
  const args = [
    "provision",
    "--host",
    "10.77.0.1",
    "--server-id",
    "web1",
    "--uid",
    String(home.uid),
    "--key-file",
    home.keyFile,
    "--out",
    out,
  ];
  const run = await runClient(home.dir, args);
  equal(run.code, 0, run.stderr);
  equal((await Deno.stat(out)).mode! & 0o777, 0o600);
  match(run.stdout, /^Wrote .*web1-alice\.key \(mode 0600\)/);
  const key = await loadKeyFile(out);
  deepStrictEqual(key.secret.bytes(), deriveServerKey(home.secret, "web1"));
  const again = await runClient(home.dir, args);
  equal(again.code, 1);
  match(again.stderr, /Cannot write server key file .*: it already exists/);
  const bad = await runClient(home.dir, [...args.slice(0, 4), "-web", ...args.slice(5, -2)]);
  equal(bad.code, 2);
  match(bad.stderr, /"-web" is not a server id/);
});

Deno.test("a server key works only for its server_id; a user's key for any", () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const user = parseKeyFile(`uid = 5\nsecret = "${b64(secret)}"\nsequence = 9\n`);
  const web1 = keyForServer(user, "web1");
  deepStrictEqual(web1.secret.bytes(), deriveServerKey(secret, "web1"));
  const file = parseKeyFile(
    `uid = 5\nserver_id = "web1"\nserver_key = "${b64(web1.secret.bytes())}"\nsequence = 9\n`,
  );
  ok(keyForServer(file, "web1").secret.equals(web1.secret));
  throws(() => keyForServer(file, "web2", "/etc/spa/keys/alice.key"), {
    name: "KeyFileError",
    message:
      `Cannot use key file /etc/spa/keys/alice.key: it is the key of server_id "web1", not of "web2" (provision a key for this server with: spa-client provision)`,
  });
  throws(() => parseKeyFile(`uid = 5\nserver_key = "${b64(secret)}"\nsequence = 9\n`), {
    message: /server_id: missing \(required with "server_key"\)/,
  });
  throws(
    () => parseKeyFile(`uid = 5\nserver_id = "a"\nsecret = "${b64(secret)}"\nsequence = 9\n`),
    {
      message: /server_id: is only for a "server_key"/,
    },
  );
});
