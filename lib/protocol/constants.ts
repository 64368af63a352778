/**
 * Protocol constants (fixed by the wire format; changing one is a new protocol version) and
 * implementation limits (defaults and bounds of this implementation), kept apart.
 *
 * @module
 */

import { AES_BLOCK_BYTES } from "./aes256.ts";

// ---- Protocol constants -------------------------------------------------------------------

/** Protocol version carried in the high nibble of the first sealed byte. */
export const PROTOCOL_VERSION = 2;
/** Length of the cleartext user id at the start of the trailer (big-endian). */
export const UID_LENGTH = 5;
/** Length of the encrypted block (one AES-256 block, 16 bytes). */
export const BLOCK_LENGTH: number = AES_BLOCK_BYTES;
/** Length of the truncated HMAC-SHA256 tag. */
export const TAG_LENGTH = 16;
/** Length of the sealed block, 32 bytes: one AES block of ciphertext, then the tag. */
export const SEALED_LENGTH: number = BLOCK_LENGTH + TAG_LENGTH;
/** Length of the trailer at the end of a packet's payload, 37 bytes: UID + sealed block. */
export const TRAILER_LENGTH: number = UID_LENGTH + SEALED_LENGTH;
/** Length of a user's secret in bytes (256 bits). */
export const SECRET_LENGTH = 32;
/** Largest user id that fits the 5-byte field. */
export const MAX_UID = 2 ** 40 - 1;
/** Largest sequence number (sequence numbers are 32-bit; 0 is never used). */
export const MAX_SEQUENCE = 2 ** 32 - 1;
/** Seconds per resync key period: resync packets are keyed by the UTC minute. */
export const RESYNC_PERIOD_SECONDS = 60;
/** Flag bit in the first sealed byte: the knock is bound to the source address. */
export const FLAG_SOURCE_BOUND = 0x1;
/** HKDF salt of every message key. */
export const HKDF_SALT = "spa/2 key schedule";
/** scrypt cost for passphrases: N = 2^15, r = 8, p = 1 (32 MiB, ~0.1 s). */
export const PASSPHRASE_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;

// ---- Implementation limits ------------------------------------------------------------------

/** Default packet-age window in seconds: a timestamp further from the receiver's clock is refused. */
export const DEFAULT_MAX_AGE_SECONDS = 120;
/** Resync minutes accepted on each side of the receiver's current minute. */
export const RESYNC_SKEW_MINUTES = 1;
/**
 * Minutes on each side of the server's clock within which an authentic resync is recognised as
 * coming from a skewed clock and answered with a clock-skew reply instead of silence.
 */
export const RESYNC_SKEW_PROBE_MINUTES = 15;
/** Default bound on remembered authenticated tags per user. */
export const DEFAULT_REPLAY_CAPACITY = 1024;
