/**
 * The server id: the name of one spa server that both sides hold in their config (`server_id` in
 * the server config, `server_id` of a client's host entry, by default the entry's name). Every key
 * of protocol 2 is derived through it (see {@linkcode deriveServerKey} in `key_schedule.ts`), so a
 * packet sealed for one server is worthless at any other. It is a name, not an address: NAT,
 * several addresses, IPv4 and IPv6, and renaming the machine do not change it.
 *
 * @module
 */

import { isValidName, MAX_NAME_LENGTH } from "./name.ts";

/** Longest server id, in characters (ASCII, so also in bytes). */
export const MAX_SERVER_ID_LENGTH = MAX_NAME_LENGTH;

/**
 * Whether `id` is a valid server id: 1 to 64 ASCII letters, digits, `.`, `_` or `-`, starting with
 * a letter or digit.
 *
 * @example
 * ```ts
 * import { isValidServerId } from "./server_id.ts";
 * if (!isValidServerId("web1.example.org") || isValidServerId("-x") || isValidServerId("")) {
 *   throw new Error("unexpected");
 * }
 * ```
 */
export function isValidServerId(id: string): boolean {
  return isValidName(id);
}

/**
 * The server id as it enters the key schedule: one length byte, then its ASCII bytes.
 *
 * @throws {RangeError} When `id` is not a valid server id.
 * @example
 * ```ts
 * import { encodeServerId } from "./server_id.ts";
 * if (encodeServerId("web1").join(",") !== "4,119,101,98,49") throw new Error("unexpected");
 * ```
 */
export function encodeServerId(id: string): Uint8Array {
  if (!isValidServerId(id)) {
    throw new RangeError(
      `Cannot use server id ${JSON.stringify(id)}: use 1 to ${MAX_SERVER_ID_LENGTH} letters, ` +
        `digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  const out = new Uint8Array(1 + id.length);
  out[0] = id.length;
  for (let i = 0; i < id.length; i++) out[1 + i] = id.charCodeAt(i);
  return out;
}
