/**
 * The `udp` transport: an ordinary, unprivileged UDP socket on an ephemeral port. The request goes
 * to the server's port; the server answers from that port to the socket's port. Works behind NAT.
 *
 * `node:dgram` is used because `Deno.listenDatagram` still needs `--unstable-net`. The socket is
 * not connected, so an ICMP error (port unreachable, say) is never reported on it and cannot abort
 * the wait; socket errors are ignored while waiting for the reply.
 *
 * @module
 */

import dgram from "node:dgram";
import { formatAddress, parseAddress } from "../packet/address.ts";
import { ClientError } from "./errors.ts";
import { type Endpoint, Inbox, type Transport } from "./transport.ts";

/**
 * Opens the `udp` transport to `target`.
 *
 * @throws {ClientError} When the socket cannot be bound.
 * @example
 * ```ts ignore
 * import { openUdpTransport } from "./udp_transport.ts";
 * await using transport = await openUdpTransport({ address: new Uint8Array([10, 77, 0, 1]), port: 22 });
 * await transport.send(payload);
 * const reply = await transport.receive(1000);
 * ```
 */
export async function openUdpTransport(target: Endpoint): Promise<Transport> {
  const family = target.address.length === 4 ? "udp4" : "udp6";
  const socket = dgram.createSocket({ type: family });
  const inbox = new Inbox();
  const host = formatAddress(target.address);
  socket.on("error", () => {/* ICMP and socket errors must not abort the wait */});
  socket.on("message", (message: Uint8Array, remote: dgram.RemoteInfo) => {
    if (remote.port !== target.port) return;
    const from = parseAddress(remote.address);
    if (from === undefined || !sameBytes(from, target.address)) return;
    inbox.push(new Uint8Array(message));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, family === "udp4" ? "0.0.0.0" : "::", () => {
        socket.off("error", reject);
        resolve();
      });
    });
  } catch (error) {
    socket.close();
    throw new ClientError(`Cannot open a UDP socket: ${(error as Error).message}`, {
      cause: error,
    });
  }
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      inbox.close();
      socket.close(() => resolve());
    });
    return closed;
  };
  return {
    kind: "udp",
    localPort: socket.address().port,
    send(payload: Uint8Array): Promise<void> {
      return new Promise((resolve, reject) => {
        socket.send(payload, target.port, host, (error) => {
          if (error === null || error === undefined) return resolve();
          reject(
            new ClientError(
              `Cannot send to ${host} port ${target.port}: ${describeSendError(error)}`,
              { cause: error },
            ),
          );
        });
      });
    },
    receive: (timeoutMs: number) => inbox.take(timeoutMs),
    close,
    [Symbol.asyncDispose]: close,
  };
}

function describeSendError(error: Error): string {
  const code = (error as { code?: string }).code;
  switch (code) {
    case "ENETUNREACH":
      return "the network is unreachable (ENETUNREACH)";
    case "EHOSTUNREACH":
      return "the host is unreachable (EHOSTUNREACH)";
    case "EADDRNOTAVAIL":
      return "no local address can reach it (EADDRNOTAVAIL)";
    default:
      return code === undefined ? error.message : `${error.message} (${code})`;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
