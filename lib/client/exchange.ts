/**
 * One request/reply exchange with retries: send, wait up to the timeout for a reply that verifies,
 * send again. A knock or check sends the very same packets every time (the server recognises its
 * last accepted knock and answers it again); a resync sends a fresh packet every time (the server
 * burns used ones). A late reply to any request sent in this exchange is accepted.
 *
 * @module
 */

import { TRAILER_LENGTH } from "../protocol/constants.ts";
import type { Transport } from "./transport.ts";

/** A request ready to send, and the check its reply must pass. */
export interface Request<T> {
  /** The whole payload: padding, then the 37-byte trailer. */
  readonly payload: Uint8Array;
  /** The reply's meaning when `tail` (the last 37 bytes of a reply payload) verifies, else undefined. */
  verify(tail: Uint8Array): T | undefined;
}

/** Options of {@linkcode exchange}. */
export interface ExchangeOptions {
  /** How many times to send, at least 1 (`--retries` + 1). */
  tries: number;
  /** How long to wait for a reply after each send, in milliseconds. */
  timeoutMs: number;
  /** Called before each send, with the 1-based try number. */
  onSend?: (attempt: number) => void;
  /** Called for every reply payload that did not verify. */
  onIgnored?: (reason: "short" | "unverified") => void;
}

/** A verified reply. */
export interface Exchanged<T> {
  /** What the reply said. */
  reply: T;
  /** The request it answered. */
  request: Request<T>;
  /** How many sends it took. */
  attempts: number;
}

/**
 * Sends the requests of `requests(attempt)` up to `options.tries` times, each time waiting
 * `options.timeoutMs` for a reply that verifies against one of the requests sent so far;
 * `undefined` when none came.
 *
 * @throws {ClientError} When the transport cannot send (e.g. no route to the host).
 * @example
 * ```ts
 * import { exchange } from "./exchange.ts";
 * import { Inbox, type Transport } from "./transport.ts";
 * // A transport that loses the first request and echoes the others back.
 * const inbox = new Inbox();
 * let sends = 0;
 * const transport: Transport = {
 *   kind: "udp",
 *   localPort: 40000,
 *   send(payload) {
 *     if (++sends > 1) inbox.push(payload);
 *     return Promise.resolve();
 *   },
 *   receive: (timeoutMs) => inbox.take(timeoutMs),
 *   close: () => Promise.resolve(),
 *   [Symbol.asyncDispose]: () => Promise.resolve(),
 * };
 * const request = {
 *   payload: new Uint8Array(37).fill(7),
 *   verify: (tail: Uint8Array) => (tail[0] === 7 ? "ack" : undefined),
 * };
 * const done = await exchange(transport, () => [request], { tries: 4, timeoutMs: 50 });
 * if (done?.reply !== "ack" || done.attempts !== 2) throw new Error("no ack");
 * ```
 */
export async function exchange<T>(
  transport: Transport,
  requests: (attempt: number) => readonly Request<T>[],
  options: ExchangeOptions,
): Promise<Exchanged<T> | undefined> {
  const sent: Request<T>[] = [];
  for (let attempt = 1; attempt <= options.tries; attempt++) {
    options.onSend?.(attempt);
    for (const request of requests(attempt)) {
      if (!sent.includes(request)) sent.push(request);
      await transport.send(request.payload);
    }
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const payload = await transport.receive(left);
      if (payload === undefined) break;
      if (payload.length < TRAILER_LENGTH) {
        options.onIgnored?.("short");
        continue;
      }
      const tail = payload.subarray(payload.length - TRAILER_LENGTH);
      for (const candidate of sent) {
        const reply = candidate.verify(tail);
        if (reply !== undefined) return { reply, request: candidate, attempts: attempt };
      }
      options.onIgnored?.("unverified");
    }
  }
  return undefined;
}
