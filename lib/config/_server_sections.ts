/**
 * The `[[users]]` and `[ports."proto/N"]` sections of the server config, for `server.ts` (private
 * to `lib/config`).
 *
 * @module
 */

import { MAX_UID } from "../protocol/constants.ts";
import type { Checked } from "./_checked.ts";
import type { Fields } from "./_fields.ts";
import { resolveConfigPath } from "./_paths.ts";
import { checkCidr, type Cidr, SourceList } from "./cidr.ts";
import { checkPortSpec, formatPortSpec, type PortSpec } from "./port_spec.ts";
import {
  type KeyFileRef,
  type PortConfig,
  readIdle,
  SERVER_DEFAULTS,
  type UserConfig,
} from "./server.ts";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function readUsers(
  top: Fields,
  baseDir: string | undefined,
): { users: UserConfig[]; keyFiles: KeyFileRef[]; listed: PortSpec[] } {
  const users: UserConfig[] = [];
  const keyFiles: KeyFileRef[] = [];
  const listed: PortSpec[] = [];
  const entries = top.tables("users");
  if (entries === undefined) {
    if (top.data.users === undefined) top.problem("users", "missing (at least one [[users]])");
    return { users, keyFiles, listed };
  }
  if (entries.length === 0) top.problem("users", "must not be empty");
  const uids = new Map<number, string>();
  const names = new Map<string, string>();
  for (const user of entries) {
    const uid = user.integer("uid", 0, MAX_UID, { required: true, what: "not a uid" });
    if (uid !== undefined) {
      const first = uids.get(uid);
      if (first !== undefined) user.problem("uid", `${uid} is already used by ${first}`);
      else uids.set(uid, user.path);
    }
    const name = user.string("name", { required: true });
    if (name !== undefined) {
      const first = names.get(name);
      if (!NAME.test(name)) {
        user.problem(
          "name",
          `${JSON.stringify(name)} is not a name (letters, digits, ".", "_", "-"; at most 64)`,
        );
      } else if (first !== undefined) {
        user.problem("name", `${JSON.stringify(name)} is already used by ${first}`);
      } else names.set(name, user.path);
    }
    const keyFileText = user.string("key_file", { required: true });
    let keyFile: string | undefined;
    if (keyFileText !== undefined) {
      const resolved = resolveConfigPath(keyFileText, baseDir);
      if (resolved.reason !== undefined) user.problem("key_file", resolved.reason);
      keyFile = resolved.value;
    }
    if (keyFile !== undefined && uid !== undefined) {
      keyFiles.push({ path: keyFile, uid, keyPath: user.pathOf("key_file") });
    }
    const good: PortSpec[] = [];
    const ports = user.array("ports", (value, path) => {
      const checked = typeof value === "string"
        ? checkPortSpec(value)
        : { reason: `${JSON.stringify(value)} is not a port reference (e.g. "tcp/22")` };
      if (checked.reason !== undefined) top.problems.add(path, checked.reason);
      else good.push(checked.value);
      return checked.value;
    }, { required: true, nonEmpty: true });
    listed.push(...good);
    const keys = good.map(formatPortSpec);
    const duplicate = keys.find((key, i) => keys.indexOf(key) !== i);
    if (duplicate !== undefined) user.problem("ports", `"${duplicate}" is listed twice`);
    const sources = user.array("sources", (value, path) => {
      const checked: Checked<Cidr> = typeof value === "string"
        ? checkCidr(value)
        : { reason: `${JSON.stringify(value)} is not a prefix (e.g. "10.0.0.0/8")` };
      if (checked.reason !== undefined) top.problems.add(path, checked.reason);
      return checked.value;
    }, { nonEmpty: true }) ??
      SERVER_DEFAULTS.sources.map((text) => checkCidr(text).value!);
    const requireSourceBinding = user.boolean("require_source_binding") ??
      SERVER_DEFAULTS.require_source_binding;
    user.finish();
    if (uid === undefined || name === undefined || keyFile === undefined || !ports) continue;
    users.push({
      uid,
      name,
      keyFile,
      ports,
      sources: new SourceList(sources),
      requireSourceBinding,
    });
  }
  return { users, keyFiles, listed };
}

export function readPorts(
  top: Fields,
  listed: readonly PortSpec[],
  idleTimeoutMs: number,
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
    const base = ports.get(key);
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
