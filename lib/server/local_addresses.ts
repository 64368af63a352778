/**
 * The host's own addresses, for the daemon's check that a knock is addressed to this host.
 *
 * A capture sees every frame that reaches the interface, including frames for other hosts on a
 * shared segment (a hub, a bridge that floods, a promiscuous capture). A knock for another address
 * is not for this host: answering it would send a reply from an address the host does not own, and
 * opening a port for it would act on a packet the kernel itself drops. The set holds the addresses
 * of every interface (Linux accepts a packet for any of its addresses on any interface), re-read
 * on the daemon's tick and when a packet names an address not in it (so a newly added address
 * works at once), those re-reads budgeted: {@linkcode MISS_REFRESH_BURST} at once, then
 * {@linkcode MISS_REFRESHES_PER_SECOND}, so a flood for other hosts costs a few reads a second.
 *
 * @module
 */

import { TokenBucket } from "./token_bucket.ts";

/** Re-reads that packets for unknown addresses may cause at once. */
export const MISS_REFRESH_BURST = 4;
/** Re-reads that packets for unknown addresses may cause per second, after the burst. */
export const MISS_REFRESHES_PER_SECOND = 10;

/**
 * The host's addresses, checked against a packet's destination without allocating.
 *
 * @example
 * ```ts
 * import { LocalAddresses } from "./local_addresses.ts";
 * const mine = new LocalAddresses(() => [new Uint8Array([10, 77, 0, 1])], () => 0);
 * const frame = new Uint8Array([0, 10, 77, 0, 1, 10, 77, 0, 9]);
 * if (!mine.owns(frame, 1, 4) || mine.owns(frame, 5, 4)) throw new Error("unexpected");
 * ```
 */
export class LocalAddresses {
  readonly #read: () => Uint8Array[];
  readonly #now: () => number;
  #v4: Uint8Array[] = [];
  #v6: Uint8Array[] = [];
  readonly #missBudget: TokenBucket;

  /**
   * @param read Returns the host's addresses (4 or 16 bytes each); may throw.
   * @param now Clock, milliseconds.
   */
  constructor(read: () => Uint8Array[], now: () => number) {
    this.#read = read;
    this.#now = now;
    this.#missBudget = new TokenBucket(MISS_REFRESHES_PER_SECOND, MISS_REFRESH_BURST, now());
    this.refresh();
  }

  /** Number of addresses held. */
  get size(): number {
    return this.#v4.length + this.#v6.length;
  }

  /**
   * Re-reads the addresses; on failure keeps the ones it has.
   *
   * @returns The error when the read failed.
   */
  refresh(): Error | undefined {
    let addresses: Uint8Array[];
    try {
      addresses = this.#read();
    } catch (error) {
      return error as Error;
    }
    this.#v4 = addresses.filter((a) => a.length === 4);
    this.#v6 = addresses.filter((a) => a.length === 16);
    return undefined;
  }

  /**
   * Whether the `length` (4 or 16) bytes at `offset` of `frame` are one of the host's addresses.
   * A miss re-reads the addresses first while the miss budget lasts.
   */
  owns(frame: Uint8Array, offset: number, length: number): boolean {
    if (this.#holds(frame, offset, length)) return true;
    if (!this.#missBudget.take(1, this.#now())) return false;
    this.refresh();
    return this.#holds(frame, offset, length);
  }

  #holds(frame: Uint8Array, offset: number, length: number): boolean {
    const list = length === 4 ? this.#v4 : this.#v6;
    next: for (const address of list) {
      for (let i = 0; i < length; i++) {
        if (frame[offset + i] !== address[i]) continue next;
      }
      return true;
    }
    return false;
  }
}
