/**
 * spa: Single Packet Authentication for Linux. This module is the library behind `spa-server`
 * and `spa-client`: the protocol core (37-byte trailers, key schedule, seal and open, replay
 * cache), the packet codec, the configuration schemas and the sequence state machines. All of it
 * is pure TypeScript over `Uint8Array`; capture and raw send live in `ffi/`.
 *
 * @example Seal a knock as a client, open it as a server
 * ```ts
 * import { deriveMessageKey, deriveServerKey, openTrailer, sealTrailer } from "./mod.ts";
 *
 * const secret = crypto.getRandomValues(new Uint8Array(32)); // the user's key
 * const serverKey = deriveServerKey(secret, "web1"); // protocol 2: every key is for one server
 * const uid = 1000;
 * const sequence = 41; // the number both sides hold now
 * const now = Math.floor(Date.now() / 1000);
 *
 * const knockKey = deriveMessageKey(serverKey, uid, "knock", sequence);
 * const trailer = sealTrailer(knockKey, { kind: "knock", protocol: "tcp", port: 22, next: 42, timestamp: now });
 *
 * const verdict = openTrailer(trailer, (u) => (u === uid ? [knockKey] : undefined), { now, maxAge: 120 });
 * if (!verdict.ok || verdict.message.kind !== "knock" || verdict.message.next !== 42) {
 *   throw new Error("the knock should open");
 * }
 * ```
 *
 * @module
 */

export {
  DEFAULT_MAX_AGE_SECONDS,
  MAX_SEQUENCE,
  MAX_UID,
  PROTOCOL_VERSION,
  SEALED_LENGTH,
  SECRET_LENGTH,
  TAG_LENGTH,
  TRAILER_LENGTH,
  UID_LENGTH,
} from "./lib/protocol/constants.ts";
export {
  BindingKey,
  deriveBindingKey,
  deriveMessageKey,
  deriveServerKey,
  keyFingerprint,
  MessageKey,
} from "./lib/protocol/key_schedule.ts";
export type { Direction, MessageKind } from "./lib/protocol/message_kind.ts";
export type { Message, MessageBody, ResyncStatus } from "./lib/protocol/message.ts";
export type { L4Protocol, PortSpec } from "./lib/protocol/port.ts";
export {
  findKey,
  type KeyLookup,
  type OpenOptions,
  openTrailer,
  openWithKey,
  REJECT_REASONS,
  type RejectReason,
  type Verdict,
} from "./lib/protocol/open.ts";
export { secretFromPassphrase } from "./lib/protocol/passphrase.ts";
export { isValidServerId } from "./lib/protocol/server_id.ts";
export { generateSecret, minuteOf, randomSequence } from "./lib/protocol/random.ts";
export {
  type LiveContext,
  ReplayCache,
  type ReplayCacheJson,
  type ReplayTagJson,
} from "./lib/protocol/replay_cache.ts";
export { type SealOptions, sealTrailer, tagOf } from "./lib/protocol/seal.ts";
export { encodeUid, readUid } from "./lib/protocol/uid.ts";

export { formatAddress, type IpFamily, parseAddress } from "./lib/packet/address.ts";
export { decodeFrame, type DecodeStatus } from "./lib/packet/decode.ts";
export {
  encodeTcpPacket,
  encodeUdpPacket,
  type TcpPacketOptions,
  type UdpPacketOptions,
} from "./lib/packet/encode.ts";
export { PacketView } from "./lib/packet/view.ts";

export {
  type BindSource,
  type ClientConfig,
  type ClientHostConfig,
  type EnvLookup,
  parseClientConfig,
  type TransportKind,
} from "./lib/config/client.ts";
export type { Cidr, SourceList } from "./lib/config/cidr.ts";
export { ConfigError } from "./lib/config/config_error.ts";
export { formatDuration, parseDuration } from "./lib/config/duration.ts";
export {
  formatKeyFile,
  type KeyFile,
  keyForServer,
  type NewKey,
  parseKeyFile,
} from "./lib/config/key_file.ts";
export { Secret } from "./lib/config/secret.ts";
export {
  checkServerConfig,
  type FirewallKind,
  type KeyFileRef,
  type LogFormat,
  parseServerConfig,
  type PortConfig,
  type RateLimitConfig,
  type ServerConfig,
  type ServerConfigCheck,
  type UserConfig,
} from "./lib/config/server.ts";

export {
  clientAcked,
  clientCandidates,
  clientResynced,
  clientSending,
  type ClientSequence,
  serverAfterGrace,
  serverResynced,
  serverRolled,
  type ServerSequence,
  serverValidSequences,
} from "./lib/state/sequence.ts";

export { VERSION } from "./lib/version.ts";
