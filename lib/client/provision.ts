/**
 * `spa-client provision`: what one server needs for one user, made on the client. The client's key
 * file holds the user's secret (the master key of the whole fleet); a server gets only its own
 * server key, `HKDF(secret, "spa/2 server key" || server_id)`, in a server key file that names its
 * `server_id`. A server that is compromised therefore holds nothing that knocks on another server
 * as that user, and a key file copied to the wrong server is refused when the daemon loads it.
 *
 * @module
 */

import { isValidName } from "../protocol/name.ts";
import { basename, join } from "../posix_path.ts";
import { ConfigError } from "../config/config_error.ts";
import { formatKeyFile, keyForServer, loadKeyFile, writeKeyFile } from "../config/key_file.ts";
import { formatUserFile } from "../config/users_dir.ts";
import { keyFingerprint } from "../protocol/key_schedule.ts";
import { isValidServerId } from "../protocol/server_id.ts";
import { usageError, writeFailure } from "./errors.ts";
import { DEFAULT_STANZA_PORT, serverStanza } from "./server_stanza.ts";

/** Options of {@linkcode provision}. */
export interface ProvisionOptions {
  /** The server's `server_id`. */
  serverId: string;
  /** The user id (must match the key file's). */
  uid: number;
  /** The client's key file (the user's secret, or a passphrase). */
  keyFile: string;
  /** The user's name in the server config (default: the key file's name without `.key`). */
  name?: string;
  /** The port the `[[users]]` stanza lists (default {@linkcode DEFAULT_STANZA_PORT}). */
  port?: number;
  /** Write the server key file here (mode 0600) instead of returning only its text. */
  out?: string;
  /**
   * Write into this users_dir folder of the server (instead of `out`): `<name>.key` (mode 0600)
   * and the user file `<name>.toml` naming her uid and port.
   */
  usersDir?: string;
}

/** What {@linkcode provision} made. */
export interface ProvisionResult {
  serverId: string;
  uid: number;
  name: string;
  /** The fingerprint of the server key (the daemon's status and the client's state show it). */
  fingerprint: string;
  /** The server key file's text (holds the server key: secret). */
  keyFileText: string;
  /** Where it was written, with `out` or `usersDir`. */
  written: string | undefined;
  /** The user file written, with `usersDir`. */
  userFile?: string;
  /** The lines for the server's `server.toml`. */
  serverStanza: string;
}

/**
 * Derives the server key of `serverId` from the client's key file and returns (or writes, mode
 * 0600, never over an existing file) the server key file with the server config lines for it.
 *
 * @throws {ClientError} (usage) For a bad server id or name, an unusable key file, or one of
 * another uid; (runtime) when `out` exists or cannot be written.
 * @example
 * ```ts
 * import { provision } from "./provision.ts";
 * import { keygen } from "./keygen.ts";
 * const outDir = await Deno.makeTempDir();
 * const key = await keygen({ uid: 1000, name: "alice", outDir });
 * const web2 = await provision({ serverId: "web2", uid: 1000, keyFile: key.keyFile });
 * if (!web2.keyFileText.includes('server_id = "web2"')) throw new Error("unexpected");
 * if (!web2.serverStanza.includes('server_id = "web2"')) throw new Error("unexpected");
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function provision(options: ProvisionOptions): Promise<ProvisionResult> {
  if (!isValidServerId(options.serverId)) {
    throw usageError(
      `Cannot provision: ${JSON.stringify(options.serverId)} is not a server id ` +
        `(1 to 64 letters, digits, ".", "_" or "-")`,
    );
  }
  const name = options.name ?? basename(options.keyFile).replace(/\.key$/, "");
  if (!isValidName(name)) {
    throw usageError(`Cannot provision: give --name (${JSON.stringify(name)} is not a user name)`);
  }
  let serverKey;
  try {
    const key = await loadKeyFile(options.keyFile);
    if (key.uid !== options.uid) {
      throw usageError(
        `Cannot provision: ${options.keyFile} holds uid ${key.uid}, not ${options.uid}`,
      );
    }
    serverKey = keyForServer(key, options.serverId, options.keyFile);
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(error.message, error);
    throw error;
  }
  const bytes = serverKey.secret.bytes();
  const fingerprint = keyFingerprint(bytes, options.uid);
  bytes.fill(0);
  const newKey = {
    uid: options.uid,
    secret: serverKey.secret,
    sequence: serverKey.sequence,
    serverId: options.serverId,
  };
  const keyFileText = formatKeyFile(newKey, { name });
  const out = options.usersDir !== undefined ? join(options.usersDir, `${name}.key`) : options.out;
  const userFile = options.usersDir !== undefined
    ? join(options.usersDir, `${name}.toml`)
    : undefined;
  if (out !== undefined) {
    try {
      await writeKeyFile(out, newKey, { name });
    } catch (error) {
      throw writeFailure("server key file", out, error);
    }
  }
  if (userFile !== undefined) {
    const text = formatUserFile({
      uid: options.uid,
      ports: [`tcp/${options.port ?? DEFAULT_STANZA_PORT}`],
    });
    try {
      await Deno.writeTextFile(userFile, text, { createNew: true, mode: 0o644 });
    } catch (error) {
      throw writeFailure("user file", userFile, error);
    }
  }
  serverKey.secret.wipe();
  const stanza = serverStanza({
    serverId: options.serverId,
    fingerprint,
    uid: options.uid,
    name,
    ...(options.port !== undefined ? { port: options.port } : {}),
  });
  return {
    serverId: options.serverId,
    uid: options.uid,
    name,
    fingerprint,
    keyFileText,
    written: out,
    ...(userFile !== undefined ? { userFile } : {}),
    serverStanza: stanza,
  };
}
