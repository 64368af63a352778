/**
 * The nftables scripts the `nft` backend runs (each passed to `nft` as one argument, applied as
 * one transaction like `nft -f`; grant lines also go to the long-lived `nft -j -i` of
 * `nft_session.ts`), and the parser of `nft -j list` output. Pure: nothing here runs a program. Every value written into a script is one this module
 * formatted itself from checked numbers, a union-typed protocol, a table name matching
 * {@linkcode TABLE_NAME} and addresses re-formatted from their parsed bytes; no text from a packet
 * or a file is pasted in.
 *
 * The table (family `inet`, so one table serves IPv4 and IPv6):
 *
 * ```
 * table inet spa {
 *   set grants4 { type ipv4_addr . inet_proto . inet_service; flags timeout, dynamic; size 65535; }
 *   set grants6 { type ipv6_addr . inet_proto . inet_service; flags timeout, dynamic; size 65535; }
 *   chain input {
 *     type filter hook input priority filter - 10; policy accept;
 *     iif "lo" accept
 *     tcp dport 22 ip saddr . meta l4proto . th dport @grants4
 *       update @grants4 { ip saddr . meta l4proto . th dport timeout 300000ms } accept
 *     tcp dport 22 ip6 saddr . meta l4proto . th dport @grants6
 *       update @grants6 { ip6 saddr . meta l4proto . th dport timeout 300000ms } accept
 *     meta l4proto . th dport { tcp . 22, udp . 22 } counter drop
 *   }
 * }
 * ```
 *
 * A packet of a granted (address, protocol, port) refreshes its element's timeout to the port's
 * idle timeout and leaves this table accepted; any other packet to a protected port number is
 * turned away before the TCP or UDP stack sees it, and so is UDP to the number of every protected
 * TCP port (the udp transport knocks there). How it is turned away is the
 * {@linkcode ProtectedResponse}: `drop` (above) answers nothing, so it draws neither a RST nor an
 * ICMP error; `reject` replaces the drop rule with
 *
 * ```
 *     meta l4proto tcp th dport { 22 } counter reject with tcp reset
 *     meta l4proto udp th dport { 22 } counter reject with icmpx port-unreachable
 * ```
 *
 * which answers what the kernel answers on a closed port. Elements expire in the kernel, with or
 * without a daemon. Nothing else is matched: other ports and loopback traffic pass untouched.
 *
 * How this composes with the host's own ruleset: nftables runs every base chain hooked at input, in
 * priority order, and a packet is delivered only if no chain drops it. An `accept` here ends only
 * this table's chain. So this table can close a port the host leaves open, but never open a port the
 * host closes: on a host whose own input chain has `policy drop`, that chain must also accept the
 * protected port (e.g. `tcp dport 22 accept`); spa then decides who gets through. The same holds for
 * iptables-nft rules, which are base chains too. Traffic that is forwarded (e.g. to containers with
 * published ports) never crosses the input hook and is not guarded.
 *
 * @module
 */

import type { L4Protocol } from "../protocol/port.ts";
import type { CheckedTarget, LiveGrant, ProtectedPort } from "./backend.ts";

/** Table names this backend accepts: a letter, then up to 31 letters, digits or `_`. */
export const TABLE_NAME: RegExp = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;
/** Names of the two sets and the chain inside the table. */
export const NFT_NAMES = Object.freeze({ set4: "grants4", set6: "grants6", chain: "input" });
/**
 * How a protected port answers a packet without a grant: `"drop"` answers nothing (the port shows
 * as filtered), `"reject"` answers like a closed port of the host (TCP RST, ICMP port
 * unreachable), so a scanner cannot tell it from its closed neighbours.
 */
export type ProtectedResponse = "drop" | "reject";
/** Every {@linkcode ProtectedResponse}, the default first. */
export const PROTECTED_RESPONSES: readonly ProtectedResponse[] = ["drop", "reject"];
/** Most elements per set. */
export const SET_SIZE = 65535;
/** Priority of the input chain: just before the usual `filter` chains. */
export const CHAIN_PRIORITY = "filter - 10";

/**
 * Checks a table name.
 *
 * @throws {TypeError} When it does not match {@linkcode TABLE_NAME}.
 * @example
 * ```ts
 * import { checkTableName } from "./nft_script.ts";
 * checkTableName("spa");
 * ```
 */
export function checkTableName(table: string): void {
  if (typeof table !== "string" || !TABLE_NAME.test(table)) {
    throw new TypeError(`Cannot use nft table: ${JSON.stringify(table)} is not a table name`);
  }
}

/**
 * The script that (re)creates the table from scratch for `ports`: any old table of that name,
 * with its stale grants, is deleted in the same transaction.
 *
 * @example
 * ```ts
 * import { startScript } from "./nft_script.ts";
 * const script = startScript("spa", [{ protocol: "tcp", port: 22, idleTimeoutMs: 2000 }]);
 * if (!script.includes("meta l4proto . th dport { tcp . 22, udp . 22 } counter drop")) throw new Error();
 * ```
 */
export function startScript(
  table: string,
  ports: readonly ProtectedPort[],
  response: ProtectedResponse = "drop",
): string {
  checkTableName(table);
  const sets = [NFT_NAMES.set4, NFT_NAMES.set6].map((name, i) =>
    [
      `add set inet ${table} ${name} {`,
      `  type ${i === 0 ? "ipv4_addr" : "ipv6_addr"} . inet_proto . inet_service;`,
      `  flags timeout, dynamic; size ${SET_SIZE};`,
      `}`,
    ].join("\n")
  );
  return [
    `add table inet ${table}`,
    `delete table inet ${table}`,
    `add table inet ${table}`,
    ...sets,
    `add chain inet ${table} ${NFT_NAMES.chain} { type filter hook input priority ${CHAIN_PRIORITY}; policy accept; }`,
    ...ruleLines(table, ports, response),
    "",
  ].join("\n");
}

/**
 * The script that replaces the rules for a new list of ports and keeps the sets, so live grants
 * survive a config reload. Grants on ports no longer protected stay in the sets, inert, until they
 * expire.
 *
 * @example
 * ```ts
 * import { reconfigureScript } from "./nft_script.ts";
 * if (!reconfigureScript("spa", []).startsWith("flush chain inet spa input")) throw new Error();
 * ```
 */
export function reconfigureScript(
  table: string,
  ports: readonly ProtectedPort[],
  response: ProtectedResponse = "drop",
): string {
  checkTableName(table);
  return [
    `flush chain inet ${table} ${NFT_NAMES.chain}`,
    ...ruleLines(table, ports, response),
    "",
  ].join("\n");
}

/**
 * What differs between the table in `json` (the output of `nft -j list table inet TABLE`) and the
 * one {@linkcode startScript} makes for `ports`, or `undefined` when nothing does. It checks what
 * guards the ports: both sets, the input chain and its hook, and the number of its rules (a rule
 * deleted or added from outside changes it); not the elements (the kernel expires those).
 *
 * @throws {SyntaxError} When `json` is not JSON.
 * @example
 * ```ts
 * import { tableProblem } from "./nft_script.ts";
 * const json = JSON.stringify({ nftables: [{ table: { family: "inet", name: "spa" } }] });
 * if (tableProblem(json, "spa", []) !== "set grants4 is missing") throw new Error();
 * ```
 */
export function tableProblem(
  json: string,
  table: string,
  ports: readonly ProtectedPort[],
  response: ProtectedResponse = "drop",
): string | undefined {
  const document = JSON.parse(json) as { nftables?: unknown };
  const items = Array.isArray(document.nftables)
    ? document.nftables as Record<string, unknown>[]
    : [];
  const ours = (o: unknown) =>
    (o as { family?: unknown; table?: unknown; name?: unknown }).family === "inet" &&
    ((o as { table?: unknown }).table ?? (o as { name?: unknown }).name) === table;
  if (!items.some((i) => i.table !== undefined && ours(i.table))) return "the table is missing";
  for (const name of [NFT_NAMES.set4, NFT_NAMES.set6]) {
    const found = items.some((i) =>
      i.set !== undefined && ours(i.set) && (i.set as { name?: unknown }).name === name
    );
    if (!found) return `set ${name} is missing`;
  }
  const chain = items.find((i) =>
    i.chain !== undefined && ours(i.chain) &&
    (i.chain as { name?: unknown }).name === NFT_NAMES.chain
  )?.chain as { hook?: unknown; type?: unknown; policy?: unknown } | undefined;
  if (chain === undefined) return `chain ${NFT_NAMES.chain} is missing`;
  if (chain.hook !== "input" || chain.type !== "filter" || chain.policy !== "accept") {
    return `chain ${NFT_NAMES.chain} is not the filter chain at the input hook`;
  }
  const rules = items.filter((i) =>
    i.rule !== undefined && ours(i.rule) &&
    (i.rule as { chain?: unknown }).chain === NFT_NAMES.chain
  ).length;
  const wanted = ruleLines(table, ports, response).length;
  if (rules !== wanted) return `chain ${NFT_NAMES.chain} has ${rules} rules, not ${wanted}`;
  return undefined;
}

/**
 * The script that opens a grant, or gives an open one a full new timeout. `add element` leaves an
 * existing element's timeout alone (nft 1.0.6), so the element is added, deleted and added again in
 * one transaction: atomic, and never an error whether or not it existed.
 *
 * @example
 * ```ts
 * import { openScript } from "./nft_script.ts";
 * const s = openScript("spa", { address: "10.77.0.2", family: 4, protocol: "tcp", port: 22 }, 2000);
 * if (s.split("\n")[2] !== "add element inet spa grants4 { 10.77.0.2 . tcp . 22 timeout 2000ms }") {
 *   throw new Error(s);
 * }
 * ```
 */
export function openScript(
  table: string,
  target: CheckedTarget,
  timeoutMs: number,
  fresh = false,
): string {
  checkTableName(table);
  const set = target.family === 4 ? NFT_NAMES.set4 : NFT_NAMES.set6;
  const element = `${target.address} . ${target.protocol} . ${target.port}`;
  const add = `add element inet ${table} ${set} { ${element} timeout ${nftTime(timeoutMs)} }`;
  // A plain add is enough for an element known to be absent (and ~7x cheaper: the delete makes
  // the kernel wait for a grace period); re-adding an existing one would not refresh its timeout.
  if (fresh) return [add, ""].join("\n");
  return [add, `delete element inet ${table} ${set} { ${element} }`, add, ""].join("\n");
}

/**
 * The script that closes a grant; adding it first makes the delete succeed when it was not open.
 *
 * @example
 * ```ts
 * import { closeScript } from "./nft_script.ts";
 * const s = closeScript("spa", { address: "fd77::2", family: 6, protocol: "udp", port: 53 });
 * if (!s.includes("delete element inet spa grants6 { fd77::2 . udp . 53 }")) throw new Error();
 * ```
 */
export function closeScript(table: string, target: CheckedTarget): string {
  checkTableName(table);
  const set = target.family === 4 ? NFT_NAMES.set4 : NFT_NAMES.set6;
  const element = `${target.address} . ${target.protocol} . ${target.port}`;
  return [
    `add element inet ${table} ${set} { ${element} timeout 1s }`,
    `delete element inet ${table} ${set} { ${element} }`,
    "",
  ].join("\n");
}

/**
 * The grants in the output of `nft -j list table inet TABLE`. nft 1.0.6 reports timeouts and
 * expiry in whole seconds there, so `timeoutMs` and `expiresInMs` are multiples of 1000 (expiry
 * rounded down). Entries of other shapes are skipped.
 *
 * @throws {SyntaxError} When `json` is not JSON.
 * @example
 * ```ts
 * import { parseListing } from "./nft_script.ts";
 * const grants = parseListing(JSON.stringify({ nftables: [{ set: { name: "grants4",
 *   elem: [{ elem: { val: { concat: ["10.77.0.2", "tcp", 22] }, timeout: 5, expires: 3 } }] } }] }));
 * if (grants[0]?.expiresInMs !== 3000 || grants[0]?.address !== "10.77.0.2") throw new Error();
 * ```
 */
export function parseListing(json: string): LiveGrant[] {
  const document = JSON.parse(json) as { nftables?: unknown };
  const out: LiveGrant[] = [];
  if (!Array.isArray(document.nftables)) return out;
  for (const entry of document.nftables) {
    const set = (entry as { set?: { name?: unknown; elem?: unknown } }).set;
    if (set === undefined || (set.name !== NFT_NAMES.set4 && set.name !== NFT_NAMES.set6)) continue;
    if (!Array.isArray(set.elem)) continue;
    for (const item of set.elem) {
      const grant = parseElement(item);
      if (grant !== undefined) out.push(grant);
    }
  }
  return out;
}

/**
 * Formats milliseconds the way nft reads a time (`2000ms`).
 *
 * @example
 * ```ts
 * import { nftTime } from "./nft_script.ts";
 * if (nftTime(300_000) !== "300000ms") throw new Error();
 * ```
 */
export function nftTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 1) throw new RangeError(`Cannot format nft time: ${ms}`);
  return `${ms}ms`;
}

function ruleLines(
  table: string,
  ports: readonly ProtectedPort[],
  response: ProtectedResponse,
): string[] {
  const chain = `add rule inet ${table} ${NFT_NAMES.chain}`;
  const lines = [`${chain} iif "lo" accept`];
  const dropped = new Set<string>();
  for (const port of ports) {
    const timeout = nftTime(port.idleTimeoutMs);
    for (const [family, set] of [["ip", NFT_NAMES.set4], ["ip6", NFT_NAMES.set6]] as const) {
      const key = `${family} saddr . meta l4proto . th dport`;
      lines.push(
        `${chain} ${port.protocol} dport ${port.port} ${key} @${set} update @${set} { ${key} timeout ${timeout} } accept`,
      );
    }
    dropped.add(`${port.protocol} . ${port.port}`);
    dropped.add(`udp . ${port.port}`);
  }
  if (dropped.size === 0) return lines;
  if (response === "drop") {
    lines.push(`${chain} meta l4proto . th dport { ${[...dropped].join(", ")} } counter drop`);
    return lines;
  }
  // What the kernel itself answers on a closed port: a RST to TCP, ICMP(v6) port unreachable to
  // UDP. The knock still reaches the daemon: libpcap sees packets before the input hook.
  for (const protocol of ["tcp", "udp"] as const) {
    const numbers = [...dropped].filter((d) => d.startsWith(`${protocol} `)).map((d) =>
      d.split(" . ")[1]
    );
    if (numbers.length === 0) continue;
    const how = protocol === "tcp" ? "reject with tcp reset" : "reject with icmpx port-unreachable";
    lines.push(
      `${chain} meta l4proto ${protocol} th dport { ${numbers.join(", ")} } counter ${how}`,
    );
  }
  return lines;
}

function parseElement(item: unknown): LiveGrant | undefined {
  const wrapped = (item as { elem?: unknown })?.elem;
  const elem = (wrapped ?? { val: item }) as {
    val?: unknown;
    timeout?: unknown;
    expires?: unknown;
  };
  const concat = (elem.val as { concat?: unknown })?.concat;
  if (!Array.isArray(concat) || concat.length !== 3) return undefined;
  const [address, protocolValue, portValue] = concat as unknown[];
  const protocol = toProtocol(protocolValue);
  const port = typeof portValue === "number" ? portValue : Number(portValue);
  if (typeof address !== "string" || protocol === undefined || !Number.isInteger(port)) {
    return undefined;
  }
  const seconds = (value: unknown) => (typeof value === "number" && value >= 0 ? value : 0);
  return {
    address,
    protocol,
    port,
    timeoutMs: seconds(elem.timeout) * 1000,
    expiresInMs: seconds(elem.expires) * 1000,
  };
}

function toProtocol(value: unknown): L4Protocol | undefined {
  if (value === "tcp" || value === 6) return "tcp";
  if (value === "udp" || value === 17) return "udp";
  return undefined;
}
