/**
 * The namespace harness every root test, the demo and the benchmarks build their hosts with.
 *
 * A topology is a hub (a Linux bridge with MAC learning off, in its own namespace, so every host
 * sees every frame as on a shared Ethernet segment) and one namespace per host, joined to the hub by
 * a veth pair. Addresses come only from 10.77.0.0/24 and fd77::/64, inside the namespaces this run
 * created; nothing is routed to the machine's real interfaces. Names carry the process id, so two
 * runs never collide, and `sweepStaleNamespaces` removes what a killed run left behind.
 *
 * @module
 */

/** A host on the hub. */
export interface Host {
  /** Role name given to {@linkcode createTopology}, e.g. `server`. */
  readonly role: string;
  /** The network namespace. */
  readonly ns: string;
  /** The interface inside the namespace (always `eth0`). */
  readonly iface: string;
  /** IPv4 address without prefix length, e.g. `10.77.0.1`. */
  readonly ipv4: string;
  /** IPv6 address without prefix length, e.g. `fd77::1`. */
  readonly ipv6: string;
  /** MAC address of `iface`. */
  readonly mac: string;
}

/** Output of a finished command. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode Topology.spawn}. */
export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  stdin?: "piped" | "null" | "inherit";
  stdout?: "piped" | "null" | "inherit";
  stderr?: "piped" | "null" | "inherit";
}

const PREFIX = "spa";
const BRIDGE_NF_OFF = [
  "net.bridge.bridge-nf-call-iptables=0",
  "net.bridge.bridge-nf-call-ip6tables=0",
  "net.bridge.bridge-nf-call-arptables=0",
];
let counter = 0;

/**
 * Why namespace tests cannot run here, or `undefined` when they can. Probed once per process by
 * creating and deleting a namespace.
 *
 * @example
 * ```ts ignore
 * const reason = await netnsSkipReason();
 * if (reason) console.error(`skipped: ${reason}`);
 * ```
 */
export async function netnsSkipReason(): Promise<string | undefined> {
  probe ??= probeNetns();
  return await probe;
}
let probe: Promise<string | undefined> | undefined;

async function probeNetns(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") return "needs Linux network namespaces";
  if (Deno.uid() !== 0) return "needs root to create network namespaces (run as root, as CI does)";
  const name = `${PREFIX}-${Deno.pid}-probe`;
  try {
    const add = await run(["ip", "netns", "add", name]);
    if (add.code !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
    await run(["ip", "netns", "del", name]);
    return undefined;
  } catch (error) {
    return `cannot run ip (Debian package iproute2): ${(error as Error).message}`;
  }
}

/**
 * Registers a `Deno.test` that needs root and namespaces; when they are missing it is ignored and
 * the reason is printed once.
 *
 * @example
 * ```ts ignore
 * netnsTest("capture sees a SYN", async () => {
 *   await using topo = await createTopology(["server", "client"]);
 * });
 * ```
 */
export function netnsTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  const reason = skipReasonSync();
  if (reason !== undefined && !warned) {
    warned = true;
    console.error(`note: namespace tests skipped: ${reason}`);
  }
  Deno.test({
    name,
    ignore: reason !== undefined,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}
let warned = false;

// Deno.test registration is synchronous, so the skip decision uses a synchronous probe.
function skipReasonSync(): string | undefined {
  if (Deno.build.os !== "linux") return "needs Linux network namespaces";
  if (Deno.uid() !== 0) return "needs root to create network namespaces (run as root, as CI does)";
  try {
    const out = new Deno.Command("ip", { args: ["netns", "list"], stdout: "null", stderr: "piped" })
      .outputSync();
    if (!out.success) {
      return `ip netns does not work: ${new TextDecoder().decode(out.stderr).trim()}`;
    }
  } catch {
    return "needs ip from Debian package iproute2";
  }
  return undefined;
}

/** Hosts on one hub, with their processes; `await using` tears everything down. */
export class Topology implements AsyncDisposable {
  /** Unique id of this topology, part of every name it made. */
  readonly id: string;
  /** Namespace of the hub bridge. */
  readonly hubNs: string;
  readonly #hosts = new Map<string, Host>();
  readonly #children = new Set<Deno.ChildProcess>();
  #disposed = false;

  constructor(id: string) {
    this.id = id;
    this.hubNs = `${id}-hub`;
  }

  /** The host playing `role`; throws when the topology has no such host. */
  host(role: string): Host {
    const host = this.#hosts.get(role);
    if (host === undefined) throw new RangeError(`Cannot find host: no host has role "${role}"`);
    return host;
  }

  /** Every host, in creation order. */
  get hosts(): Host[] {
    return [...this.#hosts.values()];
  }

  /** @internal Used by {@linkcode createTopology}. */
  addHost(host: Host): void {
    this.#hosts.set(host.role, host);
  }

  /** Runs `argv` inside the host's namespace and waits for it. */
  async exec(
    host: Host | string,
    argv: readonly string[],
    options: SpawnOptions = {},
  ): Promise<ExecResult> {
    const ns = typeof host === "string" ? this.host(host).ns : host.ns;
    return await run(["ip", "netns", "exec", ns, ...argv], options);
  }

  /** Like {@linkcode exec} but throws with the command's stderr when it exits non-zero. */
  async execOk(
    host: Host | string,
    argv: readonly string[],
    options: SpawnOptions = {},
  ): Promise<string> {
    const result = await this.exec(host, argv, options);
    if (result.code !== 0) {
      throw new Error(`Cannot run ${argv.join(" ")}: exit ${result.code}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  /** Starts `argv` inside the host's namespace; the process is killed at dispose if still alive. */
  spawn(
    host: Host | string,
    argv: readonly string[],
    options: SpawnOptions = {},
  ): Deno.ChildProcess {
    const ns = typeof host === "string" ? this.host(host).ns : host.ns;
    const child = new Deno.Command("ip", {
      args: ["netns", "exec", ns, ...argv],
      stdin: options.stdin ?? "null",
      stdout: options.stdout ?? "piped",
      stderr: options.stderr ?? "piped",
      ...(options.env ? { env: options.env } : {}),
      ...(options.cwd ? { cwd: options.cwd } : {}),
    }).spawn();
    this.#children.add(child);
    child.status.finally(() => this.#children.delete(child));
    return child;
  }

  /** Kills every process still running, then deletes every namespace (and so every veth). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await Promise.allSettled([...this.#children].map(async (child) => {
      await child.status;
      for (const stream of [child.stdout, child.stderr]) {
        try {
          if (!stream.locked) await stream.cancel();
        } catch { /* not piped, or already closed */ }
      }
    }));
    // Anything else still inside a namespace (a daemonised sshd, say) dies with it.
    for (const ns of [...[...this.#hosts.values()].map((h) => h.ns), this.hubNs]) {
      await killNamespaceProcesses(ns);
      await run(["ip", "netns", "del", ns]);
    }
  }
}

/** Options of {@linkcode createTopology}. */
export interface TopologyOptions {
  /** Turn off checksum offload on every veth so captured packets carry final checksums. */
  noOffload?: boolean;
}

/**
 * Builds a hub and one host per role: the n-th role (from 0) gets `10.77.0.(n+1)` and `fd77::(n+1)`.
 *
 * @example
 * ```ts ignore
 * await using topo = await createTopology(["server", "client", "attacker"]);
 * await topo.execOk("client", ["ping", "-c1", topo.host("server").ipv4]);
 * ```
 */
export async function createTopology(
  roles: readonly string[],
  options: TopologyOptions = {},
): Promise<Topology> {
  const reason = await netnsSkipReason();
  if (reason !== undefined) throw new Error(`Cannot create topology: ${reason}`);
  const id = `${PREFIX}-${Deno.pid}-${counter++}`;
  const topo = new Topology(id);
  try {
    await must(["ip", "netns", "add", topo.hubNs]);
    await must([
      "ip",
      "-n",
      topo.hubNs,
      "link",
      "add",
      "hub",
      "type",
      "bridge",
      "ageing_time",
      "0",
    ]);
    await must(["ip", "-n", topo.hubNs, "link", "set", "hub", "up"]);
    await must(["ip", "-n", topo.hubNs, "link", "set", "lo", "up"]);
    // Where br_netfilter is loaded, bridged frames would cross the hub's iptables hooks (a third
    // of the bridge's rate, and Ethernet padding stripped): make the hub a plain switch.
    await run(["ip", "netns", "exec", topo.hubNs, "sysctl", "-qw", ...BRIDGE_NF_OFF]);
    for (const [index, role] of roles.entries()) {
      const ns = `${id}-${role}`;
      const outer = `p${Deno.pid % 100000}x${counter}y${index}`.slice(0, 15);
      const n = index + 1;
      const mac = `02:77:00:00:00:${n.toString(16).padStart(2, "0")}`;
      await must(["ip", "netns", "add", ns]);
      // Register before configuring, so a failure below still deletes this namespace.
      topo.addHost({ role, ns, iface: "eth0", ipv4: `10.77.0.${n}`, ipv6: `fd77::${n}`, mac });
      await must(["ip", "-n", ns, "link", "set", "lo", "up"]);
      await joinHub(topo, topo.host(role), outer);
      if (options.noOffload) {
        await run(["ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off"]);
      }
    }
    return topo;
  } catch (error) {
    await topo[Symbol.asyncDispose]();
    throw error;
  }
}

/**
 * Deletes namespaces named by this harness whose process is gone (a run killed before its
 * cleanup). Never touches another live run's namespaces.
 *
 * @example
 * ```ts ignore
 * await sweepStaleNamespaces();
 * ```
 */
export async function sweepStaleNamespaces(): Promise<void> {
  const list = await run(["ip", "netns", "list"]);
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const match = /^spa-(\d+)-/.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === Deno.pid) continue;
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      await killNamespaceProcesses(name);
      await run(["ip", "netns", "del", name]);
    }
  }
}

async function killNamespaceProcesses(ns: string): Promise<void> {
  const pids = await run(["ip", "netns", "pids", ns]);
  for (const pid of pids.stdout.split("\n").map((s) => s.trim()).filter((s) => s !== "")) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* already gone */ }
  }
}

/**
 * Gives `host` its `eth0` on the hub: a veth whose outer end `outer` joins the hub bridge, with
 * the host's MAC and both addresses, up. Used to build a topology and to re-create a link
 * (`relink.ts`).
 */
export async function joinHub(topo: Topology, host: Host, outer: string): Promise<void> {
  const { ns, iface } = host;
  await must([
    "ip",
    "link",
    "add",
    outer,
    "netns",
    topo.hubNs,
    "type",
    "veth",
    "peer",
    "name",
    iface,
    "netns",
    ns,
  ]);
  await must(["ip", "-n", topo.hubNs, "link", "set", outer, "master", "hub", "up"]);
  await must(["ip", "-n", ns, "link", "set", iface, "address", host.mac]);
  await must(["ip", "-n", ns, "link", "set", iface, "up"]);
  await must(["ip", "-n", ns, "addr", "add", `${host.ipv4}/24`, "dev", iface]);
  await must(["ip", "-n", ns, "addr", "add", `${host.ipv6}/64`, "dev", iface, "nodad"]);
}

async function must(argv: readonly string[]): Promise<void> {
  const result = await run(argv);
  if (result.code !== 0) {
    throw new Error(`Cannot build topology: ${argv.join(" ")}: ${result.stderr.trim()}`);
  }
}

async function run(argv: readonly string[], options: SpawnOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  const out = await new Deno.Command(cmd!, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.env ? { env: options.env } : {}),
    ...(options.cwd ? { cwd: options.cwd } : {}),
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
