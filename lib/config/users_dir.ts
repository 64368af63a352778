/**
 * The users folder (`users_dir`): one small TOML file per user, `<name>.toml`, with the keys of a
 * `[[users]]` entry; `name` defaults to the file's name without `.toml` and `key_file` to the
 * `<name>.key` beside it. Made for configuration management (Ansible, Salt, Puppet, cloud-init):
 * drop a file in, remove it, send SIGHUP.
 *
 * Each file is checked on its own: its problems are reported with its path and never stop the
 * other users (what the daemon does with a broken file is in `lib/server/user_files.ts`). Only
 * `*.toml` files not starting with `.` are read (editors' and tools' temporary files are not). A
 * user file must not be writable by group or others: whoever can write it can grant access.
 *
 * @module
 */

import { Fields, parseToml, Problems } from "./_fields.ts";
import { type Busy, pauser } from "./_pause.ts";
import { readUser } from "./_server_sections.ts";
import type { SourceList } from "./cidr.ts";
import type { FileCache } from "./_file_cache.ts";
import type { PortSpec } from "../protocol/port.ts";
import type { KeyFileRef, UserConfig } from "./server.ts";
import { readSizeSync } from "./_read.ts";

/** What {@linkcode formatUserFile} writes. */
export interface NewUserFile {
  readonly uid: number;
  /** Ports the user may open, e.g. `["tcp/22"]`. */
  readonly ports: readonly string[];
  /** Written only when it is not the file's own name. */
  readonly name?: string;
}

/**
 * The text of a user file for users_dir (no secret in it: the key is the `.key` file beside it).
 *
 * @example
 * ```ts
 * import { formatUserFile } from "./users_dir.ts";
 * const text = formatUserFile({ uid: 1000, ports: ["tcp/22"] });
 * if (text !== 'uid = 1000\nports = ["tcp/22"]\n') throw new Error(text);
 * ```
 */
export function formatUserFile(user: NewUserFile): string {
  const lines = [`uid = ${user.uid}`];
  if (user.name !== undefined) lines.push(`name = ${JSON.stringify(user.name)}`);
  lines.push(`ports = ${JSON.stringify(user.ports).replaceAll(",", ", ")}`, "");
  return lines.join("\n");
}

/** Largest user file read, in bytes. */
export const MAX_USER_FILE_SIZE = 64 * 1024;

/** One user file as read. */
export interface UserFile {
  /** Its absolute path. */
  readonly file: string;
  /** The user, when the file is good. */
  readonly user?: UserConfig;
  /** Its key file, when `uid` and `key_file` are valid. */
  readonly keyFile?: KeyFileRef;
  /** The uid the file names, when it is a valid uid. */
  readonly uid?: number;
  readonly ports: readonly PortSpec[];
  /** Its problems, each line starting with the file's path. */
  readonly problems: readonly string[];
}

/**
 * Reads every user file of `dir` (in name order), checking each one on its own. A uid or name
 * already in `taken` (the main config's users, then earlier files) makes a file broken. With a
 * finite `sliceMs`, it lists the folder off the main thread and yields every `sliceMs` of work,
 * letting `busy` work go first.
 *
 * @throws {Error} When the folder cannot be listed ("Cannot read users_dir ...: reason").
 * @example
 * ```ts
 * import { readUsersDir } from "./users_dir.ts";
 * const dir = await Deno.makeTempDir();
 * const user = (uid: number, name: string) =>
 *   `uid = ${uid}\nname = "${name}"\nkey_file = "${name}.key"\nports = ["tcp/22"]\n`;
 * await Deno.writeTextFile(`${dir}/bob.toml`, user(1001, "bob"));
 * await Deno.writeTextFile(`${dir}/eve.toml`, user(1000, "eve"));
 * const taken = { uids: new Map([[1000, "alice"]]), names: new Map([["alice", "server.toml"]]) };
 * const [bob, eve] = await readUsersDir(dir, taken);
 * if (bob?.user?.name !== "bob" || bob.problems.length !== 0) throw new Error(`${bob?.problems}`);
 * if (eve?.user !== undefined) throw new Error("uid 1000 is alice's: eve's file is broken");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readUsersDir(
  dir: string,
  taken: { uids: Map<number, string>; names: Map<string, string> },
  sourceLists: Map<string, SourceList> = new Map(),
  cache?: FileCache<UserFile>,
  sliceMs: number = Infinity,
  busy?: Busy,
): Promise<UserFile[]> {
  const names: string[] = [];
  const keep = (entry: Deno.DirEntry) => {
    if (entry.name.endsWith(".toml") && !entry.name.startsWith(".")) names.push(entry.name);
  };
  try {
    // Listing 20,000 entries takes tens of milliseconds: a reloading daemon lists off the main
    // thread (the async listing), and answers knocks meanwhile.
    if (sliceMs === Infinity) { for (const entry of Deno.readDirSync(dir)) keep(entry); }
    else {
      const pause = pauser(sliceMs, busy);
      for await (const entry of Deno.readDir(dir)) {
        keep(entry);
        await pause(); // the entries arrive at once: going through them takes turns too
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const reason = error instanceof Deno.errors.NotFound
      ? "it does not exist"
      : (error as Error).message;
    throw new Error(`Cannot read users_dir ${dir}: ${reason}`, { cause: error });
  }
  names.sort();
  const pause = pauser(sliceMs, busy);
  const out: UserFile[] = [];
  for (const name of names) {
    const read = (file: string) => readUserFile(dir, name, file, sourceLists);
    // One flat string (kept for as long as the user is): join, not a template literal.
    const path = [dir, name].join("/");
    const parsed = cache?.get(path, read) ?? read(path);
    out.push(claim(parsed, taken));
    await pause();
  }
  return out;
}

/** A good file whose uid or name is taken becomes a broken one; else it takes them. */
function claim(
  parsed: UserFile,
  taken: { uids: Map<number, string>; names: Map<string, string> },
): UserFile {
  const user = parsed.user;
  if (user === undefined) return parsed;
  const problems: string[] = [];
  const firstUid = taken.uids.get(user.uid);
  if (firstUid !== undefined) problems.push(`uid: ${user.uid} is already used by ${firstUid}`);
  const firstName = taken.names.get(user.name);
  if (firstName !== undefined) {
    problems.push(`name: ${JSON.stringify(user.name)} is already used by ${firstName}`);
  }
  if (problems.length > 0) {
    const { user: _user, ...rest } = parsed;
    return { ...rest, problems: problems.map((line) => `${parsed.file}: ${line}`) };
  }
  taken.uids.set(user.uid, parsed.file);
  taken.names.set(user.name, parsed.file);
  return parsed;
}

function readUserFile(
  dir: string,
  name: string,
  file: string,
  sourceLists: Map<string, SourceList>,
): UserFile {
  const broken = (lines: string[], uid?: number): UserFile => ({
    file,
    ports: [],
    problems: lines.map((line) => `${file}: ${line}`),
    ...(uid !== undefined ? { uid } : {}),
  });
  let text: string;
  try {
    text = readSmallText(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    return broken([(error as Error).message]);
  }
  const parsed = parseToml(text);
  if (parsed.reason !== undefined) return broken([parsed.reason]);
  const problems = new Problems();
  const fields = new Fields(parsed.value, "", problems);
  const stem = name.slice(0, -".toml".length);
  const read = readUser(fields, dir, {
    defaultName: stem,
    defaultKeyFile: [dir, "/", stem, ".key"].join(""),
    sourceLists,
  });
  const uid = typeof fields.data.uid === "number" ? fields.data.uid : undefined;
  if (problems.lines.length > 0 || read.user === undefined) {
    return { ...broken(problems.lines, uid), ...(read.keyFile ? { keyFile: read.keyFile } : {}) };
  }
  return {
    file,
    user: read.user,
    uid: read.user.uid,
    keyFile: read.keyFile!,
    ports: read.ports,
    problems: NO_PROBLEMS,
  };
}

/** The problems of a good file (one array for all of them). */
const NO_PROBLEMS: readonly string[] = Object.freeze([]);

/** A small text file, refusing one that group or others may write (its reasons as messages). */
function readSmallText(path: string): string {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    if (error instanceof Deno.errors.NotFound) throw new Error("it no longer exists");
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new Error("it cannot be read (permission denied)");
    }
    throw new Error(`it cannot be opened (${(error as Error).message})`);
  }
  try {
    const info = file.statSync();
    if (!info.isFile) throw new Error("it is not a regular file");
    if (info.mode !== null && (info.mode & 0o022) !== 0) {
      const octal = (info.mode & 0o7777).toString(8).padStart(4, "0");
      throw new Error(
        `it is writable by group or others (mode ${octal}), who could grant themselves access; run: chmod go-w ${path}`,
      );
    }
    if (info.size > MAX_USER_FILE_SIZE) {
      throw new Error(`it is larger than ${MAX_USER_FILE_SIZE} bytes`);
    }
    const bytes = readSizeSync(file, info.size);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      throw new Error("it is not UTF-8 text");
    }
  } finally {
    file.close();
  }
}
