/**
 * Deletes and re-creates a host's link to the hub, as a NIC reset or a container runtime that
 * rebuilds a veth would: the host's `eth0` vanishes (with its addresses), then a new `eth0` with
 * the same MAC and addresses appears. The new hub-side veth is deleted with the topology's hub
 * namespace.
 */

import type { Topology } from "./topology.ts";

let counter = 0;

/** Deletes `role`'s `eth0` (and so its hub-side peer). */
export async function deleteLink(topo: Topology, role: string): Promise<void> {
  const host = topo.host(role);
  await topo.execOk(host, ["ip", "link", "del", host.iface]);
}

/**
 * Creates `role`'s `eth0` again, joined to the hub, with the host's MAC and both addresses, and
 * brings it up. Resolves when the link is up.
 */
export async function createLink(topo: Topology, role: string): Promise<void> {
  const host = topo.host(role);
  const outer = `r${Deno.pid % 100000}x${counter++}`.slice(0, 15);
  const steps: string[][] = [
    [
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
      host.iface,
      "netns",
      host.ns,
    ],
    ["ip", "-n", topo.hubNs, "link", "set", outer, "master", "hub", "up"],
    ["ip", "-n", host.ns, "link", "set", host.iface, "address", host.mac],
    ["ip", "-n", host.ns, "addr", "add", `${host.ipv4}/24`, "dev", host.iface],
    ["ip", "-n", host.ns, "addr", "add", `${host.ipv6}/64`, "dev", host.iface, "nodad"],
    ["ip", "-n", host.ns, "link", "set", host.iface, "up"],
  ];
  for (const argv of steps) {
    const [cmd, ...args] = argv;
    const out = await new Deno.Command(cmd!, { args, stdout: "null", stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(
        `Cannot re-create link: ${argv.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
      );
    }
  }
}
