/**
 * The 16-byte plaintext block inside every trailer, and the messages it carries.
 *
 * ```
 *  byte 0      1          2..3     4..7          8..11        12..15
 *  +---------+----------+--------+-------------+------------+-------------------------+
 *  | ver|flg | proto or | port   | sequence    | timestamp  | nonce, or binding digest |
 *  |  4 | 4  | status   | or     | (BE u32)    | (BE u32 s) | (when flag SOURCE_BOUND) |
 *  |         |          | grace  |             |            |                          |
 *  +---------+----------+--------+-------------+------------+-------------------------+
 * ```
 *
 * @module
 */

import {
  BLOCK_LENGTH,
  FLAG_SOURCE_BOUND,
  MAX_SEQUENCE,
  PROTOCOL_VERSION,
  RESYNC_PERIOD_SECONDS,
} from "./constants.ts";
import type { MessageKind } from "./message_kind.ts";
import type { L4Protocol } from "./port.ts";

/** What a resync reply says: a new number, or that the client's clock is off. */
export type ResyncStatus = "ok" | "clock-skew";

/** The fields of each kind, as a sender gives them. */
export type MessageBody =
  /** Client asks to open `protocol/port`; `next` becomes the sequence number after this one. */
  | { kind: "knock"; protocol: L4Protocol; port: number; next: number; timestamp: number }
  /** Client proves it is in sync and rolls to `next`, opening nothing (the cron check). */
  | { kind: "check"; next: number; timestamp: number }
  /** Client asks for a new sequence number; keyed by the UTC minute of `timestamp`. */
  | { kind: "resync"; timestamp: number }
  /** Server confirms a knock (`protocol`/`port`) or a check (`protocol` null, port 0). */
  | { kind: "ack"; protocol: L4Protocol | null; port: number; timestamp: number }
  /**
   * Server answers a resync with the number to use next and how long it stays pending unused
   * (`graceSeconds`), or says the clock is off (`sequence` and `graceSeconds` 0, `timestamp` is the
   * server's clock).
   */
  | {
    kind: "resync-reply";
    status: ResyncStatus;
    sequence: number;
    graceSeconds: number;
    timestamp: number;
  };

/** A message as a receiver sees it after verification. */
export type Message = MessageBody & {
  /** The user id from the trailer. */
  uid: number;
  /** The sequence number or UTC minute the message was keyed by. */
  context: number;
  /** Whether a knock was bound to its source address. */
  bound: boolean;
  /** The message's 16-byte authentication tag (its identity in the replay cache). */
  tag: Uint8Array;
};

const PROTOCOL_NUMBERS = { tcp: 6, udp: 17 } as const;

/**
 * Writes `body` as the 16-byte plaintext block. `context` is the key's sequence number or minute
 * (an ack echoes it); `last4` is the random nonce or the binding digest.
 *
 * @example
 * ```ts
 * import { encodeBlock } from "./message.ts";
 * const block = encodeBlock({ kind: "check", next: 9, timestamp: 1 }, 8, 0, 0);
 * if (block[0] !== 0x20 || block[7] !== 9) throw new Error("unexpected layout");
 * ```
 */
export function encodeBlock(
  body: MessageBody,
  context: number,
  flags: number,
  last4: number,
): Uint8Array {
  const block = new Uint8Array(BLOCK_LENGTH);
  const view = new DataView(block.buffer);
  block[0] = (PROTOCOL_VERSION << 4) | flags;
  switch (body.kind) {
    case "knock":
      block[1] = PROTOCOL_NUMBERS[body.protocol];
      view.setUint16(2, body.port);
      view.setUint32(4, body.next);
      break;
    case "check":
      view.setUint32(4, body.next);
      break;
    case "resync":
      break;
    case "ack":
      block[1] = body.protocol === null ? 0 : PROTOCOL_NUMBERS[body.protocol];
      view.setUint16(2, body.port);
      // An ack is keyed by the new sequence number and echoes it.
      view.setUint32(4, context);
      break;
    case "resync-reply":
      block[1] = body.status === "ok" ? 0 : 1;
      view.setUint16(2, body.graceSeconds);
      view.setUint32(4, body.sequence);
      break;
    default:
      unreachable(body);
  }
  view.setUint32(8, body.timestamp);
  view.setUint32(12, last4 >>> 0);
  return block;
}

/** A decoded block: the body plus the flags and the last four bytes. */
export interface DecodedBlock {
  body: MessageBody;
  flags: number;
  last4: number;
}

/**
 * Parses a decrypted block for a message of `kind` keyed by `context`; `undefined` when any field
 * is out of place (wrong version, unknown flag, bad protocol or port, a sequence number that does
 * not roll, a resync whose timestamp is not in its key's minute, an ack echoing another number).
 *
 * @example
 * ```ts
 * import { decodeBlock, encodeBlock } from "./message.ts";
 * const block = encodeBlock({ kind: "check", next: 9, timestamp: 1 }, 8, 0, 0);
 * if (decodeBlock("check", 8, block)?.body.kind !== "check") throw new Error("should parse");
 * if (decodeBlock("check", 9, block) !== undefined) throw new Error("next must differ");
 * ```
 */
export function decodeBlock(
  kind: MessageKind,
  context: number,
  block: Uint8Array,
): DecodedBlock | undefined {
  const view = new DataView(block.buffer, block.byteOffset, BLOCK_LENGTH);
  const version = block[0]! >> 4;
  const flags = block[0]! & 0x0f;
  const code = block[1]!;
  const port = view.getUint16(2);
  const sequence = view.getUint32(4);
  const timestamp = view.getUint32(8);
  const last4 = view.getUint32(12);
  if (version !== PROTOCOL_VERSION) return undefined;
  if ((flags & ~FLAG_SOURCE_BOUND) !== 0) return undefined;
  if (flags !== 0 && kind !== "knock") return undefined;
  let body: MessageBody;
  switch (kind) {
    case "knock": {
      const protocol = protocolOf(code);
      if (protocol === undefined || port === 0 || !isNextSequence(sequence, context)) {
        return undefined;
      }
      body = { kind, protocol, port, next: sequence, timestamp };
      break;
    }
    case "check":
      if (code !== 0 || port !== 0 || !isNextSequence(sequence, context)) return undefined;
      body = { kind, next: sequence, timestamp };
      break;
    case "resync":
      if (code !== 0 || port !== 0 || sequence !== 0) return undefined;
      if (Math.floor(timestamp / RESYNC_PERIOD_SECONDS) !== context) return undefined;
      body = { kind, timestamp };
      break;
    case "ack": {
      // The ack is keyed by the new sequence number; the block echoes it.
      if (sequence !== context || sequence === 0) return undefined;
      if (code === 0) {
        if (port !== 0) return undefined;
        body = { kind, protocol: null, port: 0, timestamp };
        break;
      }
      const protocol = protocolOf(code);
      if (protocol === undefined || port === 0) return undefined;
      body = { kind, protocol, port, timestamp };
      break;
    }
    case "resync-reply": {
      if (code > 1) return undefined;
      const status: ResyncStatus = code === 0 ? "ok" : "clock-skew";
      if (status === "ok" ? !isSequence(sequence) : sequence !== 0 || port !== 0) return undefined;
      body = { kind, status, sequence, graceSeconds: port, timestamp };
      break;
    }
    default:
      return unreachable(kind);
  }
  return { body, flags, last4 };
}

/**
 * Whether `value` is a usable sequence number (1..2^32-1).
 *
 * @example
 * ```ts
 * import { isSequence } from "./message.ts";
 * if (isSequence(0) || !isSequence(2 ** 32 - 1)) throw new Error("unexpected");
 * ```
 */
export function isSequence(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= MAX_SEQUENCE;
}

function isNextSequence(next: number, current: number): boolean {
  return isSequence(next) && next !== current;
}

function protocolOf(code: number): L4Protocol | undefined {
  return code === 6 ? "tcp" : code === 17 ? "udp" : undefined;
}

function unreachable(value: never): never {
  throw new TypeError(`Cannot handle message: ${JSON.stringify(value)}`);
}
