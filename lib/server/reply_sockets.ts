/**
 * The daemon's raw sockets, one per IP version, through which every reply trailer goes back the
 * way its packet came (`reply_route.ts` builds the packet).
 *
 * @module
 */

import { RawSocket } from "../../ffi/raw_socket.ts";
import { familyOf, type IpFamily } from "../packet/address.ts";
import type { Logger } from "./log.ts";
import { replyPacket, type ReplyRoute } from "./reply_route.ts";

/** A raw socket per IP version; a send that fails is logged, never thrown. */
export class ReplySockets {
  readonly #sockets = new Map<IpFamily, RawSocket>();
  readonly #log: Logger;

  /** No socket yet: see {@linkcode ReplySockets.open}. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Opens the IPv4 and IPv6 raw sockets.
   *
   * @throws {Error} When a raw socket cannot be opened (no CAP_NET_RAW).
   */
  open(): void {
    this.#sockets.set(4, RawSocket.open(4));
    this.#sockets.set(6, RawSocket.open(6));
  }

  /** Sends `trailer` back along `route` (nothing for a carrier that gets no answer). */
  send(route: ReplyRoute, trailer: Uint8Array): void {
    const packet = replyPacket(route, trailer);
    if (packet === undefined) return;
    const socket = this.#sockets.get(familyOf(route.remote));
    try {
      socket?.send(packet, route.remote);
    } catch (error) {
      this.#log.error("reply-failed", { reason: (error as Error).message });
    }
  }

  /** Closes the sockets. */
  close(): void {
    for (const socket of this.#sockets.values()) socket.close();
  }
}
