/**
 * The grant book's firewall, in memory: records what the book asks of it, keeps the "kernel's"
 * grants in `live` (a test deletes from it to expire one).
 *
 * @module
 */

import type { GrantFirewall, KernelGrant } from "../../lib/server/grants.ts";

/** A {@linkcode GrantFirewall} that only records. */
export class FakeFirewall implements GrantFirewall {
  /** Every open, with whether the book said the grant was fresh. */
  opens: { address: string; fresh: boolean | undefined }[] = [];
  /** How many times the book listed the kernel's grants. */
  lists = 0;
  /** Addresses closed, in order. */
  closed: string[] = [];
  /** The grants "in the kernel", by address. */
  live = new Map<string, KernelGrant>();

  open(grant: {
    address: string;
    protocol: "tcp" | "udp";
    port: number;
    timeoutMs: number;
    fresh?: boolean;
  }): Promise<void> {
    this.opens.push({ address: grant.address, fresh: grant.fresh });
    this.live.set(grant.address, { ...grant, expiresInMs: grant.timeoutMs });
    return Promise.resolve();
  }

  list(): Promise<KernelGrant[]> {
    this.lists++;
    return Promise.resolve([...this.live.values()]);
  }

  close(grant: { address: string }): Promise<void> {
    this.closed.push(grant.address);
    this.live.delete(grant.address);
    return Promise.resolve();
  }
}
