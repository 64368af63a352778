/**
 * Turning a passphrase into a 256-bit secret. A passphrase is never used raw: it is stretched with
 * scrypt (N = 2^15, r = 8, p = 1), salted with the protocol name and the user id, so the same
 * passphrase gives different secrets for different users.
 *
 * @module
 */

import { PASSPHRASE_SCRYPT, SECRET_LENGTH } from "./constants.ts";
import { scrypt } from "./scrypt.ts";
import { encodeUid } from "./uid.ts";

/** Shortest passphrase accepted, in characters. */
export const MIN_PASSPHRASE_LENGTH = 12;

/**
 * Whether `passphrase` is long enough: at least {@linkcode MIN_PASSPHRASE_LENGTH} characters
 * (code points, so an emoji counts once).
 *
 * @example
 * ```ts
 * import { isLongEnoughPassphrase } from "./passphrase.ts";
 * if (isLongEnoughPassphrase("short") || !isLongEnoughPassphrase("twelve chars")) throw new Error();
 * ```
 */
export function isLongEnoughPassphrase(passphrase: string): boolean {
  return [...passphrase].length >= MIN_PASSPHRASE_LENGTH;
}

/**
 * Derives a user's 32-byte secret from a passphrase with scrypt (about 0.2 s and 32 MiB; the pure
 * `scrypt.ts`, twice OpenSSL's time but without loading `node:crypto` on every knock).
 *
 * @param passphrase At least {@linkcode MIN_PASSPHRASE_LENGTH} characters.
 * @param uid The user id the secret belongs to (part of the salt).
 * @returns The 32-byte secret.
 * @throws {RangeError} When the passphrase is too short or the uid out of range.
 *
 * @example
 * ```ts
 * import { secretFromPassphrase } from "./passphrase.ts";
 * const secret = secretFromPassphrase("correct horse battery staple", 1000);
 * if (secret.length !== 32) throw new Error("expected 32 bytes");
 * ```
 */
export function secretFromPassphrase(passphrase: string, uid: number): Uint8Array {
  if (!isLongEnoughPassphrase(passphrase)) {
    throw new RangeError(
      `Cannot use passphrase: it is shorter than ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
  const salt = new Uint8Array([
    ...new TextEncoder().encode("spa/1 passphrase "),
    ...encodeUid(uid),
  ]);
  const password = new TextEncoder().encode(passphrase.normalize("NFC"));
  const key = scrypt(password, salt, PASSPHRASE_SCRYPT, SECRET_LENGTH);
  password.fill(0);
  return key;
}
