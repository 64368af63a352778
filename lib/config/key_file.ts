/**
 * Key files: the small TOML files `spa-client keygen` writes (mode 0600) and both sides read.
 *
 * ```toml
 * # spa key file - keep it secret (mode 0600)
 * uid = 1000
 * secret = "<base64 of 32 random bytes>"
 * sequence = 3735928559          # the initial sequence number, 1..2^32-1
 * ```
 *
 * `passphrase = "..."` (at least 12 characters, stretched with scrypt) may stand instead of
 * `secret`. A **server key file** (written by `spa-client provision`) holds, instead of the user's
 * secret, the key of one server only, and names that server:
 *
 * ```toml
 * uid = 1000
 * server_id = "web2"
 * server_key = "<base64 of HKDF(secret, "spa/2 server key" || server id)>"
 * sequence = 3735928559
 * ```
 *
 * {@linkcode keyForServer} turns either kind into the key of one server. A key file readable or writable by group or others is refused, as ssh does. No error
 * message, log line or printed form ever holds the secret or the passphrase.
 *
 * @module
 */

import { MAX_SEQUENCE, MAX_UID, SECRET_LENGTH } from "../protocol/constants.ts";
import { deriveServerKey } from "../protocol/key_schedule.ts";
import {
  isLongEnoughPassphrase,
  MIN_PASSPHRASE_LENGTH,
  secretFromPassphrase,
} from "../protocol/passphrase.ts";
import { isSequence } from "../protocol/message.ts";
import { isValidServerId } from "../protocol/server_id.ts";
import { isValidUid } from "../protocol/uid.ts";
import { Fields, parseToml, Problems } from "./_fields.ts";
import { ConfigError } from "./config_error.ts";
import { Secret } from "./secret.ts";
import { readSizeSync } from "./_read.ts";
import { writeFileAtomic } from "../state/atomic_file.ts";

/** A key file's contents. */
export interface KeyFile {
  /** The user id, 0..2^40-1. */
  readonly uid: number;
  /**
   * The 32-byte key: the user's secret (from `secret`, or derived from `passphrase`), or, for a
   * server key file, the key of server {@linkcode KeyFile.serverId} only.
   */
  readonly secret: Secret;
  /** The initial sequence number, 1..2^32-1. */
  readonly sequence: number;
  /** Which key the file held. */
  readonly source: "secret" | "passphrase" | "server-key";
  /** For a server key (`source` "server-key"): the server it belongs to. */
  readonly serverId?: string;
}

/** Largest key file read, in bytes. */
export const MAX_KEY_FILE_SIZE = 64 * 1024;
const BASE64_SECRET = /^[A-Za-z0-9+/]{43}=$/;

/**
 * A key file that cannot be used: missing, unreadable, too open, or with bad contents. A
 * {@linkcode ConfigError} whose message reads `Cannot use key file PATH: reason`.
 *
 * @example
 * ```ts
 * import { KeyFileError } from "./key_file.ts";
 * const error = new KeyFileError("/k/a.key", ["it does not exist"]);
 * if (error.message !== "Cannot use key file /k/a.key: it does not exist") throw new Error();
 * ```
 */
export class KeyFileError extends ConfigError {
  override name = "KeyFileError";

  constructor(path: string | undefined, problems: readonly string[], options: ErrorOptions = {}) {
    super(path, problems, { ...options, subject: "key file" });
  }
}

/**
 * Parses a key file's text (pure: no file access, no permission check).
 *
 * @param text The TOML text.
 * @param options `path` names the file in errors.
 * @throws {KeyFileError} With every problem found; never with the secret in it.
 * @example
 * ```ts
 * import { parseKeyFile } from "./key_file.ts";
 * const key = parseKeyFile(`uid = 7\nsecret = "${btoa("k".repeat(32))}"\nsequence = 42\n`);
 * if (key.uid !== 7 || key.sequence !== 42 || key.secret.bytes()[0] !== 107) throw new Error();
 * ```
 */
export function parseKeyFile(text: string, options: { path?: string } = {}): KeyFile {
  const problems = new Problems();
  const parsed = parseToml(text, true);
  if (parsed.reason !== undefined) throw new KeyFileError(options.path, [parsed.reason]);
  const fields = new Fields(parsed.value, "", problems);
  const uid = fields.integer("uid", 0, MAX_UID, { required: true, what: "not a uid" });
  const sequence = fields.integer("sequence", 1, MAX_SEQUENCE, {
    required: true,
    what: "not a sequence number",
  });
  const secretValue = fields.raw("secret");
  const passphraseValue = fields.raw("passphrase");
  const serverKeyValue = fields.raw("server_key");
  const serverId = fields.string("server_id");
  fields.finish();
  let secret: Secret | undefined;
  let source: KeyFile["source"] = "secret";
  const given = (["secret", "passphrase", "server_key"] as const).filter((key) =>
    fields.data[key] !== undefined
  );
  if (serverId !== undefined && !isValidServerId(serverId)) {
    problems.add("server_id", `${JSON.stringify(serverId)} is not a server id`);
  }
  if (serverKeyValue !== undefined && serverId === undefined) {
    problems.add("server_id", `missing (required with "server_key")`);
  }
  if (serverKeyValue === undefined && serverId !== undefined) {
    problems.add("server_id", `is only for a "server_key" (a user's secret serves every server)`);
  }
  if (given.length > 1) {
    problems.add("", `set only one of ${given.map((key) => `"${key}"`).join(" and ")}`);
  } else if (secretValue !== undefined || serverKeyValue !== undefined) {
    const key = secretValue !== undefined ? "secret" : "server_key";
    const value = secretValue ?? serverKeyValue;
    if (typeof value !== "string" || !BASE64_SECRET.test(value)) {
      problems.add(
        key,
        `must be the base64 of ${SECRET_LENGTH} random bytes (44 characters ending in "=")`,
      );
    } else {
      const bytes = decodeSecretBase64(value);
      secret = new Secret(bytes);
      bytes.fill(0);
    }
    if (serverKeyValue !== undefined) source = "server-key";
  } else if (passphraseValue !== undefined) {
    source = "passphrase";
    if (typeof passphraseValue !== "string") {
      problems.add("passphrase", "must be a string");
    } else if (!isLongEnoughPassphrase(passphraseValue)) {
      problems.add("passphrase", `is shorter than ${MIN_PASSPHRASE_LENGTH} characters`);
    } else if (uid !== undefined) {
      const bytes = secretFromPassphrase(passphraseValue, uid);
      secret = new Secret(bytes);
      bytes.fill(0);
    }
  } else {
    problems.add("secret", `missing (required, or "passphrase" instead)`);
  }
  if (problems.lines.length > 0 || uid === undefined || sequence === undefined || !secret) {
    throw new KeyFileError(options.path, problems.lines);
  }
  return Object.freeze(
    source === "server-key" ? { uid, secret, sequence, source, serverId: serverId! } : {
      uid,
      secret,
      sequence,
      source,
    },
  );
}

const BASE64_DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * The 32 bytes of a base64 text {@linkcode BASE64_SECRET} matched (43 digits and "="; the last
 * digit's two low bits are dropped, as `atob` drops them). Not `atob`: its first call in a process
 * cost 1.0-1.4 ms of every knock (instrumented client, `deno bundle`), and it returns the secret as
 * a string, which cannot be zeroed.
 */
function decodeSecretBase64(text: string): Uint8Array {
  const bytes = new Uint8Array(SECRET_LENGTH);
  let bits = 0;
  let held = 0;
  let at = 0;
  for (let i = 0; i < 43; i++) {
    held = ((held << 6) | BASE64_DIGITS.indexOf(text[i]!)) & 0x3fff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[at++] = (held >> bits) & 0xff;
    }
  }
  return bytes;
}

/**
 * The key of server `serverId` from a key file: a user's secret (or passphrase) is turned into
 * that server's key ({@linkcode deriveServerKey}); a server key file is used as it is, and only
 * for the server it names. The result is a server key file's contents (`source` "server-key").
 *
 * @param key A parsed key file.
 * @param serverId The server the key is for (the server's own `server_id`, or a client host's).
 * @param path The key file, for errors.
 * @throws {KeyFileError} When `key` is the server key of another server.
 * @example
 * ```ts
 * import { keyForServer, parseKeyFile } from "./key_file.ts";
 * const user = parseKeyFile(`uid = 7\nsecret = "${btoa("k".repeat(32))}"\nsequence = 42\n`);
 * const web1 = keyForServer(user, "web1");
 * if (web1.serverId !== "web1" || web1.secret.equals(user.secret)) throw new Error();
 * if (!keyForServer(web1, "web1").secret.equals(web1.secret)) throw new Error();
 * ```
 */
export function keyForServer(key: KeyFile, serverId: string, path?: string): KeyFile {
  if (key.source === "server-key") {
    if (key.serverId === serverId) return key;
    throw new KeyFileError(path, [
      `it is the key of server_id ${JSON.stringify(key.serverId)}, not of ${
        JSON.stringify(serverId)
      } (provision a key for this server with: spa-client provision)`,
    ]);
  }
  const user = key.secret.bytes();
  const bytes = deriveServerKey(user, serverId);
  user.fill(0);
  const secret = new Secret(bytes);
  bytes.fill(0);
  return Object.freeze({
    uid: key.uid,
    secret,
    sequence: key.sequence,
    source: "server-key" as const,
    serverId,
  });
}

/**
 * Why a key file with these permission bits must not be used, or `undefined` when they are fine
 * (no access for group or others).
 *
 * @example
 * ```ts
 * import { keyFileModeProblem } from "./key_file.ts";
 * if (keyFileModeProblem(0o600, "/k") !== undefined) throw new Error();
 * if (!keyFileModeProblem(0o644, "/k")?.includes("chmod 600 /k")) throw new Error();
 * ```
 */
export function keyFileModeProblem(mode: number, path: string): string | undefined {
  const loose = mode & 0o077;
  if (loose === 0) return undefined;
  const how = loose & 0o044 ? (loose & 0o022 ? "readable and writable" : "readable") : "writable";
  const octal = (mode & 0o7777).toString(8).padStart(4, "0");
  return `it is ${how} by group or others (mode ${octal}); run: chmod 600 ${path}`;
}

/**
 * Reads and parses a key file, refusing one that group or others may read or write. The mode is
 * checked on the opened file, so it is the file that is read.
 *
 * @param path The key file.
 * @throws {KeyFileError} When it is missing, unreadable, too open, too large or malformed.
 * @throws {Deno.errors.NotCapable} Unchanged, when Deno's permissions forbid reading it.
 * @example
 * ```ts
 * import { KeyFileError, loadKeyFile, writeKeyFile } from "./key_file.ts";
 * import { Secret } from "./secret.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 });
 * const key = await loadKeyFile(`${dir}/alice.key`);
 * if (key.sequence !== 77 || key.source !== "secret") throw new Error("not read back");
 * await Deno.chmod(`${dir}/alice.key`, 0o644);
 * await loadKeyFile(`${dir}/alice.key`).then(
 *   () => Promise.reject(new Error("a key file others may read must be refused")),
 *   (error) => {
 *     if (!(error instanceof KeyFileError)) throw error;
 *   },
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadKeyFile(path: string): Promise<KeyFile> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    throw new KeyFileError(path, [openProblem(error)], { cause: error });
  }
  try {
    const info = await file.stat();
    checkKeyFileInfo(info, path);
    const bytes = new Uint8Array(info.size);
    let filled = 0;
    while (filled < bytes.length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return parseKeyFileBytes(bytes.subarray(0, filled), path);
  } finally {
    file.close();
  }
}

/**
 * {@linkcode loadKeyFile} with synchronous reads (no turn of the event loop per file), for
 * loading thousands of key files (the server's users) quickly. Same checks, same errors.
 *
 * @param path The key file.
 * @throws {KeyFileError} When it is missing, unreadable, too open, too large or malformed.
 * @throws {Deno.errors.NotCapable} Unchanged, when Deno's permissions forbid reading it.
 * @example
 * ```ts
 * import { loadKeyFileSync, writeKeyFile } from "./key_file.ts";
 * import { Secret } from "./secret.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 });
 * const key = loadKeyFileSync(`${dir}/alice.key`);
 * if (key.uid !== 1000 || !key.secret.equals(secret)) throw new Error("not read back");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function loadKeyFileSync(path: string): KeyFile {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    throw new KeyFileError(path, [openProblem(error)], { cause: error });
  }
  try {
    const info = file.statSync();
    checkKeyFileInfo(info, path);
    const bytes = readSizeSync(file, info.size);
    return parseKeyFileBytes(bytes, path);
  } finally {
    file.close();
  }
}

function checkKeyFileInfo(info: Deno.FileInfo, path: string): void {
  if (!info.isFile) throw new KeyFileError(path, ["it is not a regular file"]);
  const modeProblem = info.mode === null ? undefined : keyFileModeProblem(info.mode, path);
  if (modeProblem !== undefined) throw new KeyFileError(path, [modeProblem]);
  if (info.size > MAX_KEY_FILE_SIZE) {
    throw new KeyFileError(path, [`it is larger than ${MAX_KEY_FILE_SIZE} bytes`]);
  }
}

/** Parses a key file's bytes, then zeroes them (they hold the secret). */
function parseKeyFileBytes(bytes: Uint8Array, path: string): KeyFile {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new KeyFileError(path, ["it is not UTF-8 text"]);
  } finally {
    bytes.fill(0);
  }
  return parseKeyFile(text, { path });
}

/** What {@linkcode formatKeyFile} writes. */
export interface NewKey {
  /** The user id. */
  readonly uid: number;
  /** The user's secret, or with `serverId` the key of that server only. */
  readonly secret: Secret;
  /** The first sequence number. */
  readonly sequence: number;
  /** Write a server key file for this server (`server_key` and `server_id`). */
  readonly serverId?: string;
}

/**
 * The text of a key file holding `key` (the secret in base64). `name`, when given, goes into a
 * comment line.
 *
 * @throws {RangeError} When the uid or sequence is out of range.
 * @example
 * ```ts
 * import { formatKeyFile, parseKeyFile } from "./key_file.ts";
 * import { Secret } from "./secret.ts";
 * const key = { uid: 1000, secret: new Secret(new Uint8Array(32)), sequence: 5 };
 * if (parseKeyFile(formatKeyFile(key, { name: "alice" })).sequence !== 5) throw new Error();
 * ```
 */
export function formatKeyFile(key: NewKey, options: { name?: string } = {}): string {
  if (!isValidUid(key.uid)) {
    throw new RangeError(`Cannot format key file: uid ${key.uid} is not in 0..2^40-1`);
  }
  if (!isSequence(key.sequence)) {
    throw new RangeError(`Cannot format key file: sequence ${key.sequence} is not in 1..2^32-1`);
  }
  if (key.serverId !== undefined && !isValidServerId(key.serverId)) {
    throw new RangeError(
      `Cannot format key file: ${JSON.stringify(key.serverId)} is not a server id`,
    );
  }
  const bytes = key.secret.bytes();
  const encoded = btoa(String.fromCharCode(...bytes));
  bytes.fill(0);
  const lines = key.serverId === undefined
    ? ["# spa key file - keep it secret (mode 0600)"]
    : [`# spa server key of server_id "${key.serverId}" - keep it secret (mode 0600)`];
  if (options.name !== undefined) lines.push(`# user: ${options.name.replace(/[\r\n]/g, " ")}`);
  lines.push(`uid = ${key.uid}`);
  if (key.serverId === undefined) lines.push(`secret = "${encoded}"`);
  else lines.push(`server_id = "${key.serverId}"`, `server_key = "${encoded}"`);
  lines.push(`sequence = ${key.sequence}          # the initial sequence number, 1..2^32-1`, "");
  return lines.join("\n");
}

/**
 * Writes a key file with mode 0600. An existing file is never replaced unless `overwrite` is set;
 * then the new file is written beside it and renamed over it, so there is never a half-written
 * key file.
 *
 * @throws {Deno.errors.AlreadyExists} When the file exists and `overwrite` is not set.
 * @example
 * ```ts
 * import { writeKeyFile } from "./key_file.ts";
 * import { Secret } from "./secret.ts";
 * const dir = await Deno.makeTempDir();
 * const secret = new Secret(crypto.getRandomValues(new Uint8Array(32)));
 * await writeKeyFile(`${dir}/alice.key`, { uid: 1000, secret, sequence: 77 }, { name: "alice" });
 * if (((await Deno.stat(`${dir}/alice.key`)).mode! & 0o777) !== 0o600) throw new Error("mode");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeKeyFile(
  path: string,
  key: NewKey,
  options: { overwrite?: boolean; name?: string } = {},
): Promise<void> {
  const data = new TextEncoder().encode(formatKeyFile(key, options));
  try {
    // Replacing: written beside the old file and renamed over it, never half-written.
    if (options.overwrite) return await writeFileAtomic(path, data, { mode: 0o600 });
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    try {
      await Deno.chmod(path, 0o600);
      let written = 0;
      while (written < data.length) written += await file.write(data.subarray(written));
      await file.sync();
    } finally {
      file.close();
    }
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new Deno.errors.AlreadyExists(`Cannot write key file ${path}: it already exists`);
    }
    throw error;
  } finally {
    data.fill(0);
  }
}

function openProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) throw error;
  if (error instanceof Deno.errors.NotFound) return "it does not exist";
  if (error instanceof Deno.errors.PermissionDenied) return "it cannot be read (permission denied)";
  if (error instanceof Deno.errors.IsADirectory) return "it is a folder";
  return `it cannot be opened (${(error as Error).message})`;
}
