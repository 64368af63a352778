/**
 * Deletes and re-creates a host's link to the hub, as a NIC reset or a container runtime that
 * rebuilds a veth would: the host's `eth0` vanishes (with its addresses), then a new `eth0` with
 * the same MAC and addresses appears. The new hub-side veth is deleted with the topology's hub
 * namespace.
 */

import { joinHub, type Topology } from "./topology.ts";

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
  await joinHub(topo, topo.host(role), `r${Deno.pid % 100000}x${counter++}`.slice(0, 15));
}
