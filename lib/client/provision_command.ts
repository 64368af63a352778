/**
 * The `spa-client provision` command: settles its options against the client config, runs
 * {@linkcode provision}, and prints the server key file (to stdout, so it can be piped to the
 * server) or where it wrote it, with the lines for the server's config.
 *
 * @module
 */

import { type ClientConfig, findHost } from "../config/client.ts";
import { usageError } from "./errors.ts";
import { parseUidOption, parseViaPortOption } from "./options.ts";
import { provision } from "./provision.ts";

/** The command line of `spa-client provision`. */
export interface ProvisionFlags {
  host?: string;
  serverId?: string;
  uid?: string;
  keyFile?: string;
  name?: string;
  port?: string;
  out?: string;
  /** The server's users_dir: write NAME.key and NAME.toml there. */
  usersDir?: string;
  json?: boolean;
}

/** Where the command writes: lines to stdout and stderr, and raw text to stdout. */
export interface ProvisionOutput {
  out(line: string): void;
  err(line: string): void;
  raw(text: string): void;
}

/**
 * Runs `spa-client provision` for `flags` against `config`.
 *
 * @throws {ClientError} (usage) For a host that is not in the config without `--uid` and
 * `--key-file`, `--json` without `--out`, or what {@linkcode provision} refuses.
 * @example
 * ```ts
 * import { parseClientConfig } from "../config/client.ts";
 * import { writeKeyFile } from "../config/key_file.ts";
 * import { Secret } from "../config/secret.ts";
 * import { provisionCommand } from "./provision_command.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 });
 * const config = parseClientConfig(
 *   `[hosts.web2]\naddress = "10.77.0.2"\nuid = 1000\nkey_file = "${dir}/alice.key"\n`,
 *   { env: (name) => (name === "HOME" ? dir : undefined) },
 * );
 * const lines: string[] = [];
 * const io = { out: (line: string) => lines.push(line), err: () => {}, raw: () => {} };
 * await provisionCommand(config, { host: "web2", out: `${dir}/web2.key` }, io);
 * const written = await Deno.readTextFile(`${dir}/web2.key`);
 * if (!written.includes('server_id = "web2"')) throw new Error("not web2's key");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function provisionCommand(
  config: ClientConfig,
  flags: ProvisionFlags,
  io: ProvisionOutput,
): Promise<void> {
  if (flags.host === undefined) throw usageError("Cannot provision: --host is required");
  const host = findHost(config, flags.host);
  const uid = flags.uid !== undefined ? parseUidOption(flags.uid) : host?.uid;
  const keyFile = flags.keyFile ?? host?.keyFile;
  if (uid === undefined || keyFile === undefined) {
    throw usageError(
      `Cannot provision: ${flags.host} is not a host of the config; give --uid and --key-file`,
    );
  }
  if (flags.out !== undefined && flags.usersDir !== undefined) {
    throw usageError("Cannot provision: give --out or --users-dir, not both");
  }
  if (flags.json && flags.out === undefined && flags.usersDir === undefined) {
    throw usageError("Cannot provision --json without --out: the key file would go nowhere");
  }
  const port = flags.port !== undefined ? parseViaPortOption(flags.port) : host?.port;
  const result = await provision({
    serverId: flags.serverId ?? host?.serverId ?? flags.host,
    uid,
    keyFile,
    ...(flags.name === undefined ? {} : { name: flags.name }),
    ...(port === undefined ? {} : { port }),
    ...(flags.out === undefined ? {} : { out: flags.out }),
    ...(flags.usersDir === undefined ? {} : { usersDir: flags.usersDir }),
  });
  const { keyFileText, ...summary } = result;
  if (flags.json) {
    io.out(JSON.stringify({ ok: true, ...summary }));
    return;
  }
  // The key file alone on stdout (to pipe it to the server), the instructions beside it.
  const say = result.written === undefined ? io.err : io.out;
  if (result.written === undefined) io.raw(keyFileText);
  else say(`Wrote ${result.written} (mode 0600).`);
  if (result.userFile !== undefined) {
    say(`Wrote ${result.userFile}: the server picks both up on its next reload (SIGHUP).`);
    return;
  }
  say(
    `Install it on the server ${result.serverId} as /etc/spa/keys/${result.name}.key ` +
      `(mode 0600), and in /etc/spa/server.toml:\n${result.serverStanza}`,
  );
}
