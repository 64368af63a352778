/**
 * The `udp` transport: an ordinary, unprivileged UDP socket on an ephemeral port. The request goes
 * to the server's port; the server answers from that port to the socket's port. Works behind NAT.
 *
 * `Deno.listenDatagram` (it needs `--unstable-net`, which the client's flags in
 * `lib/permissions.ts` carry) rather than `node:dgram`: loading Deno's Node layer for `node:dgram`
 * cost about 8-10 ms of every knock's start. The socket is not connected, so an ICMP error (port
 * unreachable, say) is never reported on it and cannot abort the wait; a receive error other than
 * the socket closing is ignored while waiting for the reply.
 *
 * @module
 */

import { formatAddress, parseAddress, sameAddress } from "../packet/address.ts";
import { ClientError } from "./errors.ts";
import { type Endpoint, Inbox, type Transport } from "./transport.ts";

/**
 * Opens the `udp` transport to `target`.
 *
 * @throws {ClientError} When the socket cannot be bound.
 * @example
 * ```ts
 * import { openUdpTransport } from "./udp_transport.ts";
 * // Talks to a server: type-checked by `deno test --doc`, not run.
 * async function ask(payload: Uint8Array): Promise<Uint8Array | undefined> {
 *   const server = { address: new Uint8Array([10, 77, 0, 1]), port: 22 };
 *   await using transport = await openUdpTransport(server);
 *   await transport.send(payload);
 *   return await transport.receive(1000); // undefined after a second without a reply
 * }
 * ```
 */
export function openUdpTransport(target: Endpoint): Promise<Transport> {
  const host = formatAddress(target.address);
  let socket: Deno.DatagramConn;
  try {
    socket = Deno.listenDatagram({
      transport: "udp",
      hostname: target.address.length === 4 ? "0.0.0.0" : "::",
      port: 0,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw new ClientError(`Cannot open a UDP socket: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const inbox = new Inbox();
  let open = true;
  const pump = async () => {
    while (open) {
      let datagram: [Uint8Array, Deno.Addr];
      try {
        datagram = await socket.receive();
      } catch {
        // ICMP errors and the like must not abort the wait; a closed socket ends the loop.
        if (!open) return;
        continue;
      }
      const [message, remote] = datagram;
      if (remote.transport !== "udp" || remote.port !== target.port) continue;
      const from = parseAddress(remote.hostname);
      if (from === undefined || !sameAddress(from, target.address)) continue;
      inbox.push(message);
    }
  };
  const pumping = pump();
  const close = async () => {
    if (open) {
      open = false;
      inbox.close();
      socket.close();
    }
    await pumping;
  };
  return Promise.resolve({
    kind: "udp",
    localPort: (socket.addr as Deno.NetAddr).port,
    async send(payload: Uint8Array): Promise<void> {
      try {
        await socket.send(payload, { transport: "udp", hostname: host, port: target.port });
      } catch (error) {
        throw new ClientError(
          `Cannot send to ${host} port ${target.port}: ${describeSendError(error as Error)}`,
          { cause: error },
        );
      }
    },
    receive: (timeoutMs: number) => inbox.take(timeoutMs),
    close,
    [Symbol.asyncDispose]: close,
  });
}

/** The errno names (Deno's `code` on an OS error) of the send failures worth a plain sentence. */
const SEND_ERRORS: ReadonlyMap<string, string> = new Map([
  ["ENETUNREACH", "the network is unreachable (ENETUNREACH)"],
  ["EHOSTUNREACH", "the host is unreachable (EHOSTUNREACH)"],
  ["EADDRNOTAVAIL", "no local address can reach it (EADDRNOTAVAIL)"],
]);

function describeSendError(error: Error): string {
  // Deno sets `code` to the errno's name on every OS error; EHOSTUNREACH has no Deno.errors class.
  const code: unknown = (error as { code?: unknown }).code;
  return (typeof code === "string" ? SEND_ERRORS.get(code) : undefined) ?? error.message;
}
