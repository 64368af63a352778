/**
 * The `syn` transport (the paper's): the request rides as the payload of a raw TCP SYN, from a
 * random source port (32768–60999) with a random initial sequence number, kept for every retry so
 * a retry is the very same packet; the server answers with a TCP RST from the knocked address and
 * port to that source port, carrying the reply as its payload.
 *
 * The RST is read with a receive-only raw TCP socket (`ffi/raw_tcp_receiver.ts`), opened before the
 * first send, keeping only segments from the server's address and port to the knock's source port.
 * It replaced a libpcap capture, whose opening cost 7-15 ms of every knock's start (README,
 * Performance). The kernel itself drops the RST (no socket owns the port), so nothing else on this
 * machine reacts to it. Needs root or CAP_NET_RAW.
 *
 * @module
 */

import { localAddressFor } from "../../ffi/local_address.ts";
import { RawSocket } from "../../ffi/raw_socket.ts";
import { RawTcpReceiver } from "../../ffi/raw_tcp_receiver.ts";
import { isPermissionDenied, SystemError } from "../../ffi/libc.ts";
import { familyOf, formatAddress, sameAddress } from "../packet/address.ts";
import { TCP_RST, TCP_SYN } from "../packet/constants.ts";
import { encodeTcpPacket } from "../packet/encode.ts";
import { readTcpSegment } from "../packet/tcp_segment.ts";
import { ClientError } from "./errors.ts";
import { type Endpoint, Inbox, type Transport } from "./transport.ts";

/** Lowest source port used (Linux's default ephemeral range). */
export const SYN_SOURCE_PORT_MIN = 32768;
/** Highest source port used. */
export const SYN_SOURCE_PORT_MAX = 60999;

/** The hint every "no privilege" error of this transport ends with. */
export const SYN_PRIVILEGE_HINT =
  "the syn transport needs root or CAP_NET_RAW; run as root, or use --transport udp";

/**
 * Opens the `syn` transport to `target`: finds the local source address, opens the raw socket and
 * the reply capture.
 *
 * @throws {ClientError} Without root or CAP_NET_RAW (one line suggesting `--transport udp`), or
 * when there is no route to the target.
 * @example
 * ```ts
 * import { openSynTransport } from "./syn_transport.ts";
 * // Needs root or CAP_NET_RAW: type-checked by `deno test --doc`, not run.
 * async function sendOnce(payload: Uint8Array): Promise<void> {
 *   const server = { address: new Uint8Array([10, 77, 0, 1]), port: 22 };
 *   await using transport = openSynTransport(server);
 *   await transport.send(payload);
 * }
 * ```
 */
export function openSynTransport(target: Endpoint): Transport {
  const family = familyOf(target.address);
  const host = formatAddress(target.address);
  let source: Uint8Array;
  try {
    source = localAddressFor(target.address);
  } catch (error) {
    throw new ClientError(`Cannot reach ${host}: ${reason(error)}`, { cause: error });
  }
  const random = crypto.getRandomValues(new Uint32Array(2));
  const sourcePort = SYN_SOURCE_PORT_MIN +
    random[0]! % (SYN_SOURCE_PORT_MAX - SYN_SOURCE_PORT_MIN + 1);
  const isn = random[1]!;

  let socket: RawSocket;
  try {
    socket = RawSocket.open(family);
  } catch (error) {
    throw privilegeOr(error, "open a raw socket");
  }
  let receiver: RawTcpReceiver;
  try {
    receiver = RawTcpReceiver.open(family);
  } catch (error) {
    socket.close();
    throw privilegeOr(error, "receive replies");
  }

  const inbox = new Inbox();
  // Started by the first receive, after the first send: the socket queues what arrives meanwhile,
  // and the wait's libc symbols and eventfd are set up once the knock is on the wire.
  const pump = async () => {
    for (;;) {
      const got = await receiver.receive();
      if (got === undefined) return;
      const tcp = readTcpSegment(got.segment);
      if (tcp === undefined || (tcp.flags & TCP_RST) === 0) continue;
      if (tcp.sourcePort !== target.port || tcp.destinationPort !== sourcePort) continue;
      if (!sameAddress(got.source, target.address)) continue;
      inbox.push(tcp.payload.slice());
    }
  };
  let running: Promise<void> | undefined;
  let failure: unknown;
  const receive = async (timeoutMs: number) => {
    running ??= pump().catch((error) => {
      failure = error;
      inbox.close();
    });
    const payload = await inbox.take(timeoutMs);
    if (payload === undefined && failure !== undefined) {
      throw new ClientError(`Cannot receive replies: ${reason(failure)}`, { cause: failure });
    }
    return payload;
  };

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      inbox.close();
      socket.close();
      await receiver.close();
      await running;
    })();
    return closed;
  };

  return {
    kind: "syn",
    localPort: sourcePort,
    send(payload: Uint8Array): Promise<void> {
      const packet = encodeTcpPacket({
        source,
        destination: target.address,
        sourcePort,
        destinationPort: target.port,
        sequence: isn,
        flags: TCP_SYN,
        payload,
      });
      try {
        socket.send(packet, target.address);
      } catch (error) {
        return Promise.reject(
          new ClientError(`Cannot send to ${host} port ${target.port}: ${reason(error)}`, {
            cause: error,
          }),
        );
      }
      return Promise.resolve();
    },
    receive,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function privilegeOr(error: unknown, what: string): ClientError {
  const denied = error instanceof SystemError && isPermissionDenied(error.errno);
  if (denied) return new ClientError(`Cannot ${what}: ${SYN_PRIVILEGE_HINT}`, { cause: error });
  return new ClientError(`Cannot ${what}: ${reason(error)}`, { cause: error });
}

/** Why `error` happened, for wrapping in our own sentence: a SystemError's reason, else its message. */
function reason(error: unknown): string {
  if (error instanceof SystemError) return error.reason;
  return error instanceof Error ? error.message : String(error);
}
