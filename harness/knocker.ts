/**
 * A scripted client for server tests: seals knocks with the protocol core, sends them from a host
 * with `packet_tool.ts`, and verifies the answer — so each test controls every byte (tampering,
 * replays, spoofing) without depending on spa-client.
 */

import {
  deriveBindingKey,
  deriveMessageKey,
  deriveServerKey,
} from "../lib/protocol/key_schedule.ts";
import type { MessageBody } from "../lib/protocol/message.ts";
import { openTrailer } from "../lib/protocol/open.ts";
import { minuteOf, randomSequence } from "../lib/protocol/random.ts";
import { sealTrailer, tagOf } from "../lib/protocol/seal.ts";
import { ROOT } from "./spa_server.ts";
import type { Host, Topology } from "./topology.ts";
import { MODULE_FLAGS } from "../lib/permissions.ts";

export const hex = (b: Uint8Array): string =>
  [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
export const unhex = (t: string): Uint8Array =>
  new Uint8Array((t.match(/../g) ?? []).map((h) => parseInt(h, 16)));

/** Runs packet_tool.ts in a host; returns its trimmed stdout. */
export async function tool(
  topo: Topology,
  host: string | Host,
  ...args: string[]
): Promise<string> {
  const out = await topo.execOk(host, [
    Deno.execPath(),
    "run",
    ...MODULE_FLAGS,
    "-A",
    `${ROOT}/harness/packet_tool.ts`,
    ...args,
  ]);
  return out.trim();
}

/**
 * Sends again, from `host`, the captured packet of `pcap` whose payload ends with `match` (hex), from
 * `src` (default: the packet's own source address); returns packet_tool's answer, "sent".
 *
 * @example
 * ```ts ignore
 * equal(await replay(topo, "attacker", pcap, trailerHex, ATTACKER), "sent");
 * ```
 */
export function replay(
  topo: Topology,
  host: string,
  pcap: string,
  match: string,
  src?: string,
): Promise<string> {
  const from = src === undefined ? [] : ["--src", src];
  return tool(topo, host, "replay", "--pcap", pcap, "--match", match, ...from);
}

/** Tries a TCP connect from a host: "connected", "refused" or "timeout". */
export function connect(
  topo: Topology,
  host: string,
  address: string,
  port: number,
  timeoutMs = 1000,
): Promise<string> {
  return tool(
    topo,
    host,
    "connect",
    "--host",
    address,
    "--port",
    String(port),
    "--timeout",
    String(timeoutMs),
  );
}

/** Starts a TCP echo service in a host and waits until it listens. */
export async function startEcho(topo: Topology, host: string, port: number): Promise<void> {
  const child = topo.spawn(host, [
    Deno.execPath(),
    "run",
    ...MODULE_FLAGS,
    "-A",
    `${ROOT}/harness/packet_tool.ts`,
    "echo",
    "--port",
    String(port),
  ], {
    stderr: "null",
  });
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  if (!value?.includes("listening")) throw new Error("Cannot start echo service");
}

/** What one exchange did. */
export interface Exchange {
  /** The 37-byte trailer sent. */
  trailer: Uint8Array;
  /** The answer's payload, or undefined on timeout. */
  answer: Uint8Array | undefined;
}

/**
 * A user's side of the protocol, tracking its sequence number like a client would, for server
 * `serverId` (its keys derive from `deriveServerKey(secret, serverId)`).
 */
export class Knocker {
  sequence: number;
  readonly uid: number;
  /** The server key the knocker seals under. */
  readonly secret: Uint8Array;

  constructor(user: { uid: number; secret: Uint8Array; sequence: number; serverId: string }) {
    this.uid = user.uid;
    this.secret = deriveServerKey(user.secret, user.serverId);
    this.sequence = user.sequence;
  }

  /** Seals a message under the current number (knock, check) or minute (resync). */
  seal(body: MessageBody, options: { bindTo?: Uint8Array } = {}): Uint8Array {
    const context = body.kind === "resync" ? minuteOf(body.timestamp) : this.sequence;
    const key = deriveMessageKey(this.secret, this.uid, body.kind, context);
    return sealTrailer(
      key,
      body,
      options.bindTo
        ? { binding: { key: deriveBindingKey(this.secret, this.uid), address: options.bindTo } }
        : {},
    );
  }

  /** A knock for `protocol/port` under the current number. */
  knock(
    port = 22,
    protocol: "tcp" | "udp" = "tcp",
    options: { next?: number; timestamp?: number; bindTo?: Uint8Array } = {},
  ): {
    trailer: Uint8Array;
    next: number;
  } {
    const next = options.next ?? randomSequence([this.sequence]);
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    return {
      trailer: this.seal({ kind: "knock", protocol, port, next, timestamp }, options),
      next,
    };
  }

  /** Verifies an ack for `request` asking for `next`; returns its body or throws. */
  verifyAck(answer: Uint8Array, request: Uint8Array, next: number): MessageBody {
    const key = deriveMessageKey(this.secret, this.uid, "ack", next);
    const verdict = openTrailer(answer.slice(-37), () => [key], {
      now: Date.now() / 1000,
      maxAge: 120,
      requestTag: tagOf(request),
    });
    if (!verdict.ok) throw new Error(`Cannot verify ack: ${verdict.reason}`);
    return verdict.message;
  }

  /**
   * Takes `answer` as the ack of the knock `sent` (from {@linkcode Knocker.knock}): verifies it
   * and moves to the knock's new number. Throws `noAck` when there was no answer.
   */
  accept(
    answer: Uint8Array | undefined,
    sent: { trailer: Uint8Array; next: number },
    noAck = "no ack",
  ): MessageBody {
    if (answer === undefined) throw new Error(noAck);
    const ack = this.verifyAck(answer, sent.trailer, sent.next);
    this.sequence = sent.next;
    return ack;
  }
}

/** Where and how a test packet goes. */
export interface PacketSpec {
  /** Source address to put in the packet (spoofing allowed). */
  src: string;
  dst: string;
  proto?: "tcp" | "udp";
  /** Destination port (default 22). */
  port?: number;
  /** Source port (default random). */
  sport?: number;
  payload: Uint8Array;
}

/** The packet tool's arguments for `spec` (for a command this module has no wrapper for). */
export function packetArgs(spec: PacketSpec): string[] {
  return [
    "--src",
    spec.src,
    "--dst",
    spec.dst,
    "--proto",
    spec.proto ?? "tcp",
    "--sport",
    String(spec.sport ?? 40000 + Math.floor(Math.random() * 20000)),
    "--dport",
    String(spec.port ?? 22),
    "--payload",
    hex(spec.payload),
  ];
}

/** Sends a raw SYN or UDP datagram from a host and waits for the answer's payload. */
export async function exchange(
  topo: Topology,
  from: string,
  spec: PacketSpec & { timeoutMs?: number },
): Promise<Uint8Array | undefined> {
  const out = await tool(
    topo,
    from,
    "exchange",
    ...packetArgs(spec),
    "--timeout",
    String(spec.timeoutMs ?? 2000),
  );
  return out === "timeout" ? undefined : unhex(out);
}

/** Sends a raw SYN or UDP datagram from a host without waiting for an answer. */
export async function send(topo: Topology, from: string, spec: PacketSpec): Promise<void> {
  await tool(topo, from, "send", ...packetArgs(spec));
}

/**
 * Knocks from a host as `knocker` for tcp/22 (or `port`), verifies the ack and moves the knocker
 * to its new number; returns the trailer sent. Throws when no verified ack comes.
 */
export async function knockIn(
  topo: Topology,
  from: string,
  knocker: Knocker,
  spec: Omit<PacketSpec, "payload"> & { bindTo?: Uint8Array; padding?: number },
): Promise<Uint8Array> {
  const { trailer, next } = knocker.knock(
    spec.port ?? 22,
    spec.proto ?? "tcp",
    spec.bindTo ? { bindTo: spec.bindTo } : {},
  );
  const padding = crypto.getRandomValues(new Uint8Array(spec.padding ?? 0));
  const answer = await exchange(topo, from, {
    ...spec,
    payload: new Uint8Array([...padding, ...trailer]),
  });
  knocker.accept(answer, { trailer, next }, `Cannot knock from ${from} to ${spec.dst}: no ack`);
  return trailer;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
