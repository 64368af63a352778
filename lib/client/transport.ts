/**
 * What a knock travels over: the `syn` transport (a raw TCP SYN out, the ack as a TCP RST, needs
 * root or CAP_NET_RAW) or the `udp` transport (an ordinary UDP socket both ways). Both hand the
 * exchange the payloads of the packets that came back from the server's address and port to the
 * local port the request left from; verifying them is the exchange's job.
 *
 * @module
 */

import type { TransportKind } from "../config/client.ts";

/** Where requests go: the server's address (4 or 16 bytes) and a port. */
export interface Endpoint {
  /** 4 bytes (IPv4) or 16 bytes (IPv6). */
  readonly address: Uint8Array;
  /** The destination port, 1..65535. */
  readonly port: number;
}

/**
 * A channel to one server endpoint. `send` puts a payload on the wire (for `syn`: as a SYN's
 * payload, the same source port and sequence number every time); `receive` yields the payload of
 * the next packet the server sent back, or `undefined` when `timeoutMs` passed first.
 */
export interface Transport extends AsyncDisposable {
  /** Which transport this is. */
  readonly kind: TransportKind;
  /** The local source port replies come back to. */
  readonly localPort: number;
  /** Sends one request payload. */
  send(payload: Uint8Array): Promise<void>;
  /** The next reply payload, or `undefined` after `timeoutMs`. */
  receive(timeoutMs: number): Promise<Uint8Array | undefined>;
  /** Releases the socket or capture; safe to call twice. */
  close(): Promise<void>;
}

/** Most reply payloads a transport queues before dropping new ones (a flood must not grow it). */
export const INBOX_CAPACITY = 64;

/**
 * A bounded queue of received payloads with one waiting reader, shared by the transports.
 *
 * @example
 * ```ts
 * import { Inbox } from "./transport.ts";
 * const inbox = new Inbox();
 * inbox.push(new Uint8Array([1]));
 * if ((await inbox.take(10))?.[0] !== 1) throw new Error("expected the queued payload");
 * if (await inbox.take(10) !== undefined) throw new Error("expected a timeout");
 * ```
 */
export class Inbox {
  readonly #queue: Uint8Array[] = [];
  #waiter: ((payload: Uint8Array | undefined) => void) | undefined;
  #closed = false;

  /** Queues a payload (a copy is the caller's job), or hands it to the waiting reader. */
  push(payload: Uint8Array): void {
    if (this.#closed) return;
    if (this.#waiter !== undefined) this.#waiter(payload);
    else if (this.#queue.length < INBOX_CAPACITY) this.#queue.push(payload);
  }

  /** The oldest queued payload, or the next one within `timeoutMs`, else `undefined`. */
  take(timeoutMs: number): Promise<Uint8Array | undefined> {
    const queued = this.#queue.shift();
    if (queued !== undefined || this.#closed || timeoutMs <= 0) return Promise.resolve(queued);
    if (this.#waiter !== undefined) {
      throw new TypeError("Cannot receive: another receive is pending");
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#waiter?.(undefined), timeoutMs);
      this.#waiter = (payload) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(payload);
      };
    });
  }

  /** Ends a pending `take` with `undefined`; later pushes are dropped. */
  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#waiter?.(undefined);
  }
}
