/**
 * The machine a run measured (for the results' header) and the programs the bench needs.
 *
 * @module
 */

import { netnsSkipReason } from "../../harness/topology.ts";
import { fwknopVersion } from "./fwknop_side.ts";

/** Where and with what a run measured. */
export interface Machine {
  /** ISO date and time of the run. */
  date: string;
  cores: number;
  kernel: string;
  cpu: string;
  deno: string;
  fwknop: string;
  libpcap: string;
}

/** Programs the bench runs, and the Debian package of each. */
export const REQUIRED_PROGRAMS: readonly { program: string; pkg: string }[] = [
  { program: "ip", pkg: "iproute2" },
  { program: "nft", pkg: "nftables" },
  { program: "iptables", pkg: "iptables" },
  { program: "fwknopd", pkg: "fwknop-server" },
  { program: "fwknop", pkg: "fwknop-client" },
];

/** The Debian packages the bench needs, as documented in the README and the results. */
export const DEBIAN_PACKAGES =
  "fwknop-server fwknop-client iptables tcpdump nftables iproute2 libpcap0.8";

/**
 * Why the bench cannot run here (no root, no namespaces, a program missing), or `undefined`.
 *
 * @example
 * ```ts ignore
 * const reason = await skipReason();
 * if (reason !== undefined) console.log(`skipped: ${reason}`);
 * ```
 */
export async function skipReason(): Promise<string | undefined> {
  const netns = await netnsSkipReason();
  if (netns !== undefined) return netns;
  const missing: string[] = [];
  for (const { program, pkg } of REQUIRED_PROGRAMS) {
    if (!(await onPath(program))) missing.push(`${program} (Debian package ${pkg})`);
  }
  if (missing.length > 0) {
    return `missing ${
      missing.join(", ")
    }; the bench installs nothing: apt-get install -y ${DEBIAN_PACKAGES}`;
  }
  return undefined;
}

async function onPath(program: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    try {
      const info = await Deno.stat(`${dir}/${program}`);
      if (info.isFile) return true;
    } catch { /* not here */ }
  }
  return false;
}

/**
 * Describes this machine.
 *
 * @example
 * ```ts ignore
 * const machine = await describeMachine();
 * ```
 */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await readOr("/proc/cpuinfo");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  const kernel = (await readOr("/proc/sys/kernel/osrelease")).trim() || "unknown";
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    cores: navigator.hardwareConcurrency,
    kernel,
    cpu,
    deno: Deno.version.deno,
    fwknop: (await fwknopVersion()) ?? "not installed",
    libpcap: await dpkgVersion("libpcap0.8"),
  };
}

async function dpkgVersion(pkg: string): Promise<string> {
  try {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f", "${Version}", pkg],
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? `${pkg} ${new TextDecoder().decode(out.stdout).trim()}` : "unknown";
  } catch {
    return "unknown";
  }
}

async function readOr(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return "";
  }
}
