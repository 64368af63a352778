/**
 * `spa-client keygen`: a new key file (mode 0600) holding the user id, a 256-bit random secret (or
 * one stretched from a passphrase) and a random initial sequence number, and the config stanzas
 * for both sides. The secret goes into the file and nowhere else.
 *
 * @module
 */

import { isValidName } from "../protocol/name.ts";
import { join } from "../posix_path.ts";
import { writeKeyFile } from "../config/key_file.ts";
import { Secret } from "../config/secret.ts";
import { formatAddress, parseAddress } from "../packet/address.ts";
import { deriveServerKey, keyFingerprint } from "../protocol/key_schedule.ts";
import {
  isLongEnoughPassphrase,
  MIN_PASSPHRASE_LENGTH,
  secretFromPassphrase,
} from "../protocol/passphrase.ts";
import { generateSecret, randomSequence } from "../protocol/random.ts";
import { usageError, writeFailure } from "./errors.ts";
import { DEFAULT_STANZA_HOST, DEFAULT_STANZA_PORT, serverStanza } from "./server_stanza.ts";

/** Options of {@linkcode keygen}. */
export interface KeygenOptions {
  /** The user id (the same on both sides). */
  uid: number;
  /** The user's name in the server config, and the key file's name. */
  name: string;
  /** The folder the key file goes to (created with mode 0700). */
  outDir: string;
  /** Stretch this passphrase into the secret instead of drawing a random one. */
  passphrase?: string;
  /** The client config's name for the server (default {@linkcode DEFAULT_STANZA_HOST}). */
  host?: string;
  /** The server's address for the client stanza (default: a placeholder to edit). */
  address?: string;
  /** The port the stanzas name (default {@linkcode DEFAULT_STANZA_PORT}). */
  port?: number;
}

/** What {@linkcode keygen} made. */
export interface KeygenResult {
  /** The key file written. */
  keyFile: string;
  uid: number;
  name: string;
  /** The client config's name (and `server_id`) of the server. */
  host: string;
  /** The public fingerprint of the server key of `host` (the same on both sides). */
  fingerprint: string;
  /** The server config lines (its key file comes from `spa-client provision`). */
  serverStanza: string;
  /** The `[hosts.NAME]` stanza for the client config. */
  clientStanza: string;
}

/**
 * Writes `<outDir>/<name>.key` and returns the stanzas for both configs.
 *
 * @throws {ClientError} (usage) For a bad name, host or address, or a short passphrase; (runtime)
 * when the file exists or cannot be written.
 * @example
 * ```ts
 * import { keygen } from "./keygen.ts";
 * const outDir = await Deno.makeTempDir();
 * const result = await keygen({ uid: 1000, name: "alice", outDir });
 * if ((await Deno.stat(result.keyFile)).mode! & 0o077) throw new Error("must be 0600");
 * if (!result.serverStanza.includes("uid = 1000")) throw new Error("unexpected");
 * await Deno.remove(outDir, { recursive: true });
 * ```
 */
export async function keygen(options: KeygenOptions): Promise<KeygenResult> {
  if (!isValidName(options.name)) {
    throw usageError(
      `Cannot use --name ${JSON.stringify(options.name)}: use letters, digits, ".", "_", "-" ` +
        `(at most 64, starting with a letter or digit)`,
    );
  }
  const host = options.host ?? DEFAULT_STANZA_HOST;
  if (!isValidName(host)) {
    throw usageError(`Cannot use --host ${JSON.stringify(host)}: not a host name for the config`);
  }
  let address = "SERVER_ADDRESS";
  if (options.address !== undefined) {
    const bytes = parseAddress(options.address);
    if (bytes === undefined) {
      throw usageError(`Cannot use --address ${options.address}: not an IP address`);
    }
    address = formatAddress(bytes);
  }
  let bytes: Uint8Array;
  if (options.passphrase === undefined) {
    bytes = generateSecret();
  } else {
    if (!isLongEnoughPassphrase(options.passphrase)) {
      throw usageError(
        `Cannot use the passphrase: it is shorter than ${MIN_PASSPHRASE_LENGTH} characters`,
      );
    }
    bytes = secretFromPassphrase(options.passphrase, options.uid);
  }
  const secret = new Secret(bytes);
  const serverKey = deriveServerKey(bytes, host);
  const fingerprint = keyFingerprint(serverKey, options.uid);
  serverKey.fill(0);
  bytes.fill(0);
  const keyFile = join(options.outDir, `${options.name}.key`);
  try {
    await Deno.mkdir(options.outDir, { recursive: true, mode: 0o700 });
    await writeKeyFile(keyFile, { uid: options.uid, secret, sequence: randomSequence() }, {
      name: options.name,
    });
  } catch (error) {
    throw writeFailure(
      "key file",
      keyFile,
      error,
      "it already exists (remove it first, or choose another --name or --out)",
    );
  } finally {
    secret.wipe();
  }
  const port = options.port ?? DEFAULT_STANZA_PORT;
  const serverText = serverStanza({
    serverId: host,
    fingerprint,
    uid: options.uid,
    name: options.name,
    keyFileNote: `from: spa-client provision --host ${host}`,
    port,
  });
  const clientStanza = [
    `# key fingerprint ${fingerprint}`,
    `[hosts.${host}]`,
    `address = "${address}"${options.address === undefined ? "   # the server's address" : ""}`,
    `server_id = "${host}"                # the server's server_id`,
    `uid = ${options.uid}`,
    `key_file = ${JSON.stringify(keyFile)}`,
    `port = ${port}`,
    `transport = "syn"                  # "udp" needs no root`,
    `exec = ["ssh", "-p", "{port}", "{address}"]`,
  ].join("\n");
  return {
    keyFile,
    uid: options.uid,
    name: options.name,
    host,
    fingerprint,
    serverStanza: serverText,
    clientStanza,
  };
}

/**
 * Reads a passphrase file: its text without the final line break.
 *
 * @throws {ClientError} (usage) When it cannot be read.
 * @example
 * ```ts
 * import { readPassphraseFile } from "./keygen.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "correct horse battery staple\n");
 * if (await readPassphraseFile(path) !== "correct horse battery staple") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readPassphraseFile(path: string): Promise<string> {
  try {
    const text = await Deno.readTextFile(path);
    return text.replace(/\r?\n$/, "");
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const reason = error instanceof Deno.errors.NotFound
      ? "it does not exist"
      : "it cannot be read";
    throw usageError(`Cannot use passphrase file ${path}: ${reason}`, error);
  }
}
