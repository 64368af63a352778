/**
 * Which host a command talks to, with every setting settled: a `[hosts.NAME]` of the config, or an
 * address (or DNS name) given with `--uid` and `--key-file`; command-line options override the
 * config, the config's defaults fill the rest.
 *
 * @module
 */

import {
  type BindSource,
  CLIENT_HOST_DEFAULTS,
  type ClientConfig,
  type ClientHostConfig,
  DEFAULT_TIMEOUT_MS,
  findHost,
  type TransportKind,
} from "../config/client.ts";
import { familyOf, formatAddress, isIpv4Mapped, parseAddress } from "../packet/address.ts";
import { isValidServerId } from "../protocol/server_id.ts";
import { addressFileStem, hostFileStem } from "../state/client_store.ts";
import { ClientError, usageError } from "./errors.ts";

/** Settings given on the command line; each overrides the host's config. */
export interface TargetOverrides {
  /** The server's id, for a host that is not in the config (default: the host as given). */
  serverId?: string;
  uid?: number;
  keyFile?: string;
  transport?: TransportKind;
  viaPort?: number;
  bindSource?: BindSource;
  pad?: number;
  timeoutMs?: number;
  retries?: number;
}

/** A host with every setting settled and its address resolved. */
export interface Target {
  /** The host as named (`{host}`): the config name, or what was given. */
  readonly name: string;
  /** Whether it came from the config. */
  readonly configured: boolean;
  /** The server's address, 4 or 16 bytes. */
  readonly address: Uint8Array;
  /** The same in text form (`{address}`). */
  readonly addressText: string;
  /** The server's `server_id`: the key file's key is turned into this server's key. */
  readonly serverId: string;
  readonly uid: number;
  /** Absolute path of the key file. */
  readonly keyFile: string;
  /** The config's port, when it has one. */
  readonly port: number | undefined;
  /** The config's program to run after a knock. */
  readonly exec: readonly string[] | undefined;
  readonly transport: TransportKind;
  readonly viaPort: number | undefined;
  readonly bindSource: BindSource;
  readonly pad: number;
  readonly timeoutMs: number;
  readonly retries: number;
  /** The client's state folder. */
  readonly stateDir: string;
  /** The stem of the host's state and lock files. */
  readonly stateStem: string;
}

/**
 * Settles `host` (a config name, an IP address or a DNS name) against `config`. An address that
 * exactly one configured host has (with the `--uid`, when given) means that host, so it shares its
 * state; otherwise `--uid` and `--key-file` are needed.
 *
 * @throws {ClientError} (usage) For an unknown host or missing `--uid`/`--key-file`; (runtime) when
 * a DNS name does not resolve.
 * @example
 * ```ts
 * import { resolveTarget } from "./target.ts";
 * import { parseClientConfig } from "../config/client.ts";
 * const config = parseClientConfig(
 *   '[hosts.web1]\naddress = "10.77.0.1"\nuid = 1000\nkey_file = "/k/alice.key"\n',
 *   { env: (name) => (name === "HOME" ? "/home/alice" : undefined) },
 * );
 * const byAddress = await resolveTarget(config, "10.77.0.1", {});
 * if (byAddress.name !== "web1" || byAddress.stateStem !== "web1") throw new Error();
 * const other = await resolveTarget(config, "fd77::9", {
 *   serverId: "db9", // an IPv6 address is not a server id: name the server's server_id
 *   uid: 7,
 *   keyFile: "/k/b.key",
 * });
 * if (other.stateStem !== "fd77::9@7" || other.transport !== "syn") throw new Error();
 * if (byAddress.serverId !== "web1" || other.serverId !== "db9") throw new Error();
 * ```
 */
export async function resolveTarget(
  config: ClientConfig,
  host: string,
  overrides: TargetOverrides,
): Promise<Target> {
  if (host === "") throw usageError("Cannot find host: --host is empty");
  const named = findHost(config, host);
  if (named !== undefined) return await fromConfig(config, named, overrides);
  const literal = parseAddress(host);
  if (literal !== undefined) {
    const text = formatAddress(literal);
    const matches = config.hosts.filter((h) =>
      h.address === text && (overrides.uid === undefined || h.uid === overrides.uid)
    );
    if (matches.length === 1) return await fromConfig(config, matches[0]!, overrides);
    if (matches.length > 1 && overrides.keyFile === undefined) {
      throw usageError(
        `Cannot choose host ${text}: hosts ${matches.map((h) => h.name).join(", ")} of ${
          where(config)
        } all have this address; give one of their names`,
      );
    }
  }
  if (overrides.uid === undefined || overrides.keyFile === undefined) {
    const missing = overrides.uid === undefined && overrides.keyFile === undefined
      ? "--uid and --key-file"
      : overrides.uid === undefined
      ? "--uid"
      : "--key-file";
    throw usageError(
      `Cannot find host ${JSON.stringify(host)}: it is not in ${where(config)}; ` +
        `for a host that is not in the config, give its address with ${missing}`,
    );
  }
  const address = literal ?? await resolveName(host);
  const addressText = formatAddress(address);
  const serverId = overrides.serverId ?? host;
  if (!isValidServerId(serverId)) {
    throw usageError(
      `Cannot use ${JSON.stringify(serverId)} as the server id of ${host}: give --server-id ` +
        `(the server's server_id)`,
    );
  }
  return {
    name: host,
    configured: false,
    address,
    addressText,
    serverId,
    uid: overrides.uid,
    keyFile: overrides.keyFile,
    port: undefined,
    exec: undefined,
    transport: overrides.transport ?? CLIENT_HOST_DEFAULTS.transport,
    viaPort: overrides.viaPort,
    bindSource: overrides.bindSource ?? { mode: CLIENT_HOST_DEFAULTS.bind_source },
    pad: overrides.pad ?? CLIENT_HOST_DEFAULTS.pad,
    timeoutMs: overrides.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: overrides.retries ?? CLIENT_HOST_DEFAULTS.retries,
    stateDir: config.stateDir,
    stateStem: literal !== undefined
      ? addressFileStem(addressText, overrides.uid)
      : hostFileStem(`${host.toLowerCase()}@${overrides.uid}`),
  };
}

/**
 * The options that name `target` again on a command line, for hints such as "run spa-client
 * resync --host web1".
 *
 * @example
 * ```ts
 * import { parseClientConfig } from "../config/client.ts";
 * import { hostArguments, resolveTarget } from "./target.ts";
 * const config = parseClientConfig(
 *   '[hosts.web1]\naddress = "10.77.0.1"\nuid = 1000\nkey_file = "/k/alice.key"\n',
 *   { env: (name) => (name === "HOME" ? "/home/alice" : undefined) },
 * );
 * const target = await resolveTarget(config, "10.77.0.1", {});
 * // A hint such as "run: spa-client resync --host web1":
 * if (hostArguments(target) !== "--host web1") throw new Error(hostArguments(target));
 * ```
 */
export function hostArguments(target: Target): string {
  if (target.configured) return `--host ${target.name}`;
  return `--host ${target.name} --server-id ${target.serverId} --uid ${target.uid} --key-file ${target.keyFile}`;
}

async function fromConfig(
  config: ClientConfig,
  host: ClientHostConfig,
  overrides: TargetOverrides,
): Promise<Target> {
  const literal = parseAddress(host.address);
  const address = literal ?? await resolveName(host.address);
  const bindSource = overrides.bindSource ?? host.bindSource;
  if (
    bindSource.mode === "address" && parseAddress(bindSource.address)!.length !== address.length
  ) {
    throw usageError(
      `Cannot use --bind-source ${bindSource.address}: host ${host.name} has an IPv${
        familyOf(address)
      } address`,
    );
  }
  return {
    name: host.name,
    configured: true,
    address,
    addressText: formatAddress(address),
    serverId: overrides.serverId ?? host.serverId,
    uid: overrides.uid ?? host.uid,
    keyFile: overrides.keyFile ?? host.keyFile,
    port: host.port,
    exec: host.exec,
    transport: overrides.transport ?? host.transport,
    viaPort: overrides.viaPort ?? host.viaPort,
    bindSource,
    pad: overrides.pad ?? host.pad,
    timeoutMs: overrides.timeoutMs ?? host.timeoutMs,
    retries: overrides.retries ?? host.retries,
    stateDir: config.stateDir,
    stateStem: hostFileStem(host.name),
  };
}

/**
 * Every configured host, settled (for `check --all`), in config order.
 *
 * @example
 * ```ts
 * import { parseClientConfig } from "../config/client.ts";
 * import { configuredTargets } from "./target.ts";
 * const config = parseClientConfig(
 *   '[hosts.web1]\naddress = "10.77.0.1"\nuid = 1000\nkey_file = "/k/alice.key"\n' +
 *     '[hosts.web2]\naddress = "10.77.0.2"\nuid = 1000\nkey_file = "/k/alice.key"\n',
 *   { env: (name) => (name === "HOME" ? "/home/alice" : undefined) },
 * );
 * const names = (await configuredTargets(config, {})).map((target) => target.name);
 * if (names.join(" ") !== "web1 web2") throw new Error(names.join(" "));
 * ```
 */
export async function configuredTargets(
  config: ClientConfig,
  overrides: TargetOverrides,
): Promise<Target[]> {
  const out: Target[] = [];
  for (const host of config.hosts) out.push(await fromConfig(config, host, overrides));
  return out;
}

async function resolveName(name: string): Promise<Uint8Array> {
  let result: { address: string };
  try {
    // Loaded only for a name: getaddrinfo (hosts file, nsswitch) as every other tool resolves;
    // an address or a configured host never pays for Deno's Node layer.
    const { lookup } = await import("node:dns/promises");
    result = await lookup(name, { verbatim: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new ClientError(
      `Cannot resolve ${name}: ${code === "ENOTFOUND" ? "no such host" : code ?? error}`,
      { cause: error },
    );
  }
  const bytes = parseAddress(result.address);
  if (bytes === undefined) {
    throw new ClientError(`Cannot resolve ${name}: got ${JSON.stringify(result.address)}`);
  }
  return bytes.length === 16 && isIpv4Mapped(bytes) ? bytes.slice(12) : bytes;
}

function where(config: ClientConfig): string {
  return config.path === undefined ? "the client config" : config.path;
}
