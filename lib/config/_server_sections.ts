/**
 * The `[[users]]` and `[ports."proto/N"]` sections of the server config, for `server.ts` (private
 * to `lib/config`).
 *
 * @module
 */

import { DAY_MS, SECOND_MS } from "./duration.ts";
import { isValidName } from "../protocol/name.ts";
import { MAX_UID } from "../protocol/constants.ts";
import type { Checked } from "./_checked.ts";
import type { Fields } from "./_fields.ts";
import { resolveConfigPath } from "./_paths.ts";
import { checkCidr, type Cidr, SourceList } from "./cidr.ts";
import type { PortSpec } from "../protocol/port.ts";
import { checkPortSpec, formatPortSpec } from "./port_spec.ts";
import { SERVER_DEFAULTS } from "./_server_defaults.ts";

/** A protected port with its settings (from the users' `ports` and `[ports."tcp/22"]`). */
export interface PortConfig extends PortSpec {
  /** Canonical reference, e.g. `tcp/22`. */
  readonly key: string;
  /** A grant on this port closes after this long without traffic. */
  readonly idleTimeoutMs: number;
  /** Program and arguments run when a grant opens (never through a shell). */
  readonly onOpen?: readonly string[];
  /** Program and arguments run when a grant closes. */
  readonly onClose?: readonly string[];
}

/** One `[[users]]` entry. */
export interface UserConfig {
  /** The user id knocks carry. */
  readonly uid: number;
  /** A log-safe name: letters, digits, `.`, `_`, `-`. */
  readonly name: string;
  /** Absolute path of the user's key file. */
  readonly keyFile: string;
  /** Ports this user may open. */
  readonly ports: readonly PortSpec[];
  /** Source prefixes this user may knock from. */
  readonly sources: SourceList;
  /** Refuse knocks that are not bound to their source address. */
  readonly requireSourceBinding: boolean;
}

/** A user whose key file the loader should read (also when other parts of the file are bad). */
export interface KeyFileRef {
  /** Absolute path of the key file. */
  readonly path: string;
  /** The user id it is for. */
  readonly uid: number;
  /** Key path of the `key_file` entry, e.g. `users[0].key_file`. */
  readonly keyPath: string;
}

/** The `idle_timeout` key of `fields` (top level or a `[ports."tcp/22"]` table), in ms. */
export function readIdle(fields: Fields): number | undefined {
  return fields.duration("idle_timeout", SECOND_MS, DAY_MS, "1s", "1d");
}

/** Options of {@linkcode readUser}. */
export interface ReadUserOptions {
  /** The `name` when the table has none (a users_dir file's name without `.toml`). */
  defaultName?: string;
  /** The `key_file` when the table has none (the `.key` file beside a users_dir file). */
  defaultKeyFile?: string;
  /** Source lists already built, by their text: users with the same `sources` share one. */
  sourceLists?: Map<string, SourceList>;
  /** Uids and names of the users before, with where they are: a second use is a problem. */
  taken?: { uids: Map<number, string>; names: Map<string, string> };
}

const DEFAULT_SOURCES = "default";

/**
 * One user's table (a `[[users]]` entry or a users_dir file). Problems go to `user.problems`.
 * `keyFile` is set when `uid` and `key_file` are valid, even when other keys are not.
 */
export function readUser(
  user: Fields,
  baseDir: string | undefined,
  options: ReadUserOptions = {},
): { user?: UserConfig; keyFile?: KeyFileRef; ports: readonly PortSpec[] } {
  const taken = options.taken;
  const uid = user.integer("uid", 0, MAX_UID, { required: true, what: "not a uid" });
  if (uid !== undefined && taken !== undefined) {
    const first = taken.uids.get(uid);
    if (first !== undefined) user.problem("uid", `${uid} is already used by ${first}`);
    else taken.uids.set(uid, user.path);
  }
  const name = user.string("name", { required: options.defaultName === undefined }) ??
    options.defaultName;
  if (name !== undefined && !isValidName(name)) {
    user.problem(
      "name",
      `${JSON.stringify(name)} is not a name (letters, digits, ".", "_", "-"; at most 64)`,
    );
  } else if (name !== undefined && taken !== undefined) {
    const first = taken.names.get(name);
    if (first !== undefined) {
      user.problem("name", `${JSON.stringify(name)} is already used by ${first}`);
    } else taken.names.set(name, user.path);
  }
  const keyFileText = user.string("key_file", { required: options.defaultKeyFile === undefined });
  let keyFile: string | undefined = keyFileText === undefined ? options.defaultKeyFile : undefined;
  if (keyFileText !== undefined) {
    const resolved = resolveConfigPath(keyFileText, baseDir);
    if (resolved.reason !== undefined) user.problem("key_file", resolved.reason);
    keyFile = resolved.value;
  }
  const ref = keyFile !== undefined && uid !== undefined
    ? { path: keyFile, uid, keyPath: user.pathOf("key_file") }
    : undefined;
  const good: PortSpec[] = [];
  const ports = user.array("ports", (value, path) => {
    const checked = typeof value === "string"
      ? checkPortSpec(value)
      : { reason: `${JSON.stringify(value)} is not a port reference (e.g. "tcp/22")` };
    if (checked.reason !== undefined) user.problems.add(path, checked.reason);
    else good.push(checked.value);
    return checked.value;
  }, { required: true, nonEmpty: true });
  const keys = good.map(formatPortSpec);
  const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
  if (duplicate !== undefined) user.problem("ports", `"${duplicate}" is listed twice`);
  const shared = ports !== undefined && good.length === ports.length
    ? sharedPortList(keys.join(","), good)
    : undefined;
  const sourceTexts = user.data.sources;
  const cacheKey = sourceTexts === undefined ? DEFAULT_SOURCES : JSON.stringify(sourceTexts);
  let sourceList = options.sourceLists?.get(cacheKey);
  if (sourceList === undefined) {
    const sources = user.array("sources", (value, path) => {
      const checked: Checked<Cidr> = typeof value === "string"
        ? checkCidr(value)
        : { reason: `${JSON.stringify(value)} is not a prefix (e.g. "10.0.0.0/8")` };
      if (checked.reason !== undefined) user.problems.add(path, checked.reason);
      return checked.value;
    }, { nonEmpty: true }) ??
      SERVER_DEFAULTS.sources.map((text) => checkCidr(text).value!);
    sourceList = new SourceList(sources);
    if (sourceTexts === undefined || user.problems.lines.length === 0) {
      options.sourceLists?.set(cacheKey, sourceList);
    }
  } else {
    user.raw("sources"); // known and valid: the same text built this list
  }
  const requireSourceBinding = user.boolean("require_source_binding") ??
    SERVER_DEFAULTS.require_source_binding;
  user.finish();
  const out = { ...(ref ? { keyFile: ref } : {}), ports: shared ?? good };
  if (uid === undefined || name === undefined || keyFile === undefined || !ports) return out;
  if (!isValidName(name)) return out;
  return {
    ...out,
    user: { uid, name, keyFile, ports: shared ?? ports, sources: sourceList, requireSourceBinding },
  };
}

/** Most distinct port lists shared; a config with more builds the others per user. */
const SHARED_PORT_LISTS = 1024;
const portLists = new Map<string, readonly PortSpec[]>();

/**
 * One frozen array for every user with the same ports (by their canonical text): 10,000 users
 * listing `["tcp/22"]` hold one array, not 10,000.
 */
function sharedPortList(key: string, specs: readonly PortSpec[]): readonly PortSpec[] {
  let list = portLists.get(key);
  if (list === undefined && portLists.size < SHARED_PORT_LISTS) {
    list = Object.freeze(specs.map((spec) => Object.freeze({ ...spec })));
    portLists.set(key, list);
  }
  return list ?? specs;
}

/**
 * The `[[users]]` tables of the config, in steps: it yields after each user, so a reloading
 * daemon can answer knocks in between (see `runStepsSliced` in `_pause.ts`).
 */
export function* readUsers(
  top: Fields,
  baseDir: string | undefined,
  usersDir: boolean,
): Generator<void, { users: UserConfig[]; keyFiles: KeyFileRef[]; listed: PortSpec[] }, void> {
  const users: UserConfig[] = [];
  const keyFiles: KeyFileRef[] = [];
  const listed: PortSpec[] = [];
  const entries = top.tables("users");
  if (entries === undefined) {
    if (top.data.users === undefined && !usersDir) {
      top.problem("users", "missing (at least one [[users]], or users_dir)");
    }
    return { users, keyFiles, listed };
  }
  if (entries.length === 0 && !usersDir) top.problem("users", "must not be empty");
  const taken = { uids: new Map<number, string>(), names: new Map<string, string>() };
  const sourceLists = new Map<string, SourceList>();
  for (const entry of entries) {
    const before = top.problems.lines.length;
    const read = readUser(entry, baseDir, { sourceLists, taken });
    if (read.keyFile) keyFiles.push(read.keyFile);
    listed.push(...read.ports);
    if (read.user !== undefined && top.problems.lines.length === before) users.push(read.user);
    yield;
  }
  return { users, keyFiles, listed };
}

export function readPorts(
  top: Fields,
  listed: readonly PortSpec[],
  idleTimeoutMs: number,
  allowUnlisted = false,
): PortConfig[] {
  const ports = new Map<string, PortConfig>();
  for (const spec of listed) {
    const key = formatPortSpec(spec);
    if (!ports.has(key)) {
      ports.set(key, { protocol: spec.protocol, port: spec.port, key, idleTimeoutMs });
    }
  }
  const table = top.table("ports");
  if (table === undefined) return [...ports.values()];
  const seen = new Map<string, string>();
  for (const rawKey of Object.keys(table.data)) {
    const section = table.table(rawKey);
    if (section === undefined) continue;
    const spec = checkPortSpec(rawKey);
    if (spec.reason !== undefined) {
      table.problem(rawKey, spec.reason);
      continue;
    }
    const key = formatPortSpec(spec.value);
    const first = seen.get(key);
    if (first !== undefined) {
      table.problem(rawKey, `is the same port as ${JSON.stringify(first)}`);
      continue;
    }
    seen.set(key, rawKey);
    const idle = readIdle(section);
    const onOpen = section.argv("on_open");
    const onClose = section.argv("on_close");
    section.finish();
    const base = ports.get(key) ??
      (allowUnlisted ? { ...spec.value, key, idleTimeoutMs } : undefined);
    if (base === undefined) {
      table.problem(rawKey, `no user lists "${key}" in its ports`);
      continue;
    }
    ports.set(key, {
      ...base,
      ...(idle !== undefined ? { idleTimeoutMs: idle } : {}),
      ...(onOpen !== undefined ? { onOpen } : {}),
      ...(onClose !== undefined ? { onClose } : {}),
    });
  }
  return [...ports.values()];
}
