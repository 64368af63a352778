/**
 * The five message kinds, the direction each travels in, and their wire codes in the key schedule.
 *
 * @module
 */

/** What a trailer says. The kind is never on the wire: it selects the key (see key_schedule.ts). */
export type MessageKind = "knock" | "ack" | "resync" | "resync-reply" | "check";

/** Which way a message travels. */
export type Direction = "client-to-server" | "server-to-client";

/** Every kind, in wire-code order. */
export const MESSAGE_KINDS: readonly MessageKind[] = [
  "knock",
  "ack",
  "resync",
  "resync-reply",
  "check",
];

/**
 * The code of a kind in the key schedule's info string.
 *
 * @example
 * ```ts
 * import { kindCode } from "./message_kind.ts";
 * if (kindCode("knock") !== 1) throw new Error("unexpected");
 * ```
 */
export function kindCode(kind: MessageKind): number {
  switch (kind) {
    case "knock":
      return 1;
    case "ack":
      return 2;
    case "resync":
      return 3;
    case "resync-reply":
      return 4;
    case "check":
      return 5;
    default:
      return unreachable(kind);
  }
}

/**
 * The direction a kind travels in.
 *
 * @example
 * ```ts
 * import { directionOf } from "./message_kind.ts";
 * if (directionOf("ack") !== "server-to-client") throw new Error("unexpected");
 * ```
 */
export function directionOf(kind: MessageKind): Direction {
  switch (kind) {
    case "knock":
    case "resync":
    case "check":
      return "client-to-server";
    case "ack":
    case "resync-reply":
      return "server-to-client";
    default:
      return unreachable(kind);
  }
}

/**
 * The code of a direction in the key schedule's info string.
 *
 * @example
 * ```ts
 * import { directionCode } from "./message_kind.ts";
 * if (directionCode("server-to-client") !== 2) throw new Error("unexpected");
 * ```
 */
export function directionCode(direction: Direction): number {
  return direction === "client-to-server" ? 1 : 2;
}

/** Whether the kind answers a request, so its tag also covers the request's tag. */
export function isReply(kind: MessageKind): boolean {
  return directionOf(kind) === "server-to-client";
}

function unreachable(value: never): never {
  throw new TypeError(`Cannot handle message kind: ${String(value)}`);
}
