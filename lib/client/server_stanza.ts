/**
 * The server config stanza for one user that `spa-client keygen` and `spa-client provision` print:
 * the `server_id` line, the key fingerprint, and the `[[users]]` table.
 *
 * @module
 */

/** The port a printed stanza lists when none is given: SSH's. */
export const DEFAULT_STANZA_PORT = 22;

/** The server's name (client config host and `server_id`) in stanzas when none is given. */
export const DEFAULT_STANZA_HOST = "myserver";

/** Where the server reads key files, relative to its config folder. */
export const SERVER_KEY_DIR = "keys";

/** What {@linkcode serverStanza} writes. */
export interface ServerStanza {
  /** The server's `server_id`. */
  serverId: string;
  /** `keyFingerprint` of the server key, for comparing both sides by eye. */
  fingerprint: string;
  /** The user id. */
  uid: number;
  /** The user's name in the server config. */
  name: string;
  /** A comment after `key_file` (`{@linkcode SERVER_KEY_DIR}/<name>.key`), without the `#`. */
  keyFileNote?: string;
  /** The TCP port the user may open (default {@linkcode DEFAULT_STANZA_PORT}). */
  port?: number;
}

/**
 * The stanza's lines, joined with line breaks (no final one).
 *
 * @example
 * ```ts
 * import { serverStanza } from "./server_stanza.ts";
 * const text = serverStanza({
 *   serverId: "web1",
 *   fingerprint: "ab12",
 *   uid: 1000,
 *   name: "alice",
 * });
 * if (!text.endsWith('ports = ["tcp/22"]')) throw new Error("unexpected");
 * ```
 */
export function serverStanza(stanza: ServerStanza): string {
  const note = stanza.keyFileNote === undefined ? "" : `   # ${stanza.keyFileNote}`;
  return [
    `server_id = "${stanza.serverId}"`,
    `# key fingerprint ${stanza.fingerprint}`,
    `[[users]]`,
    `uid = ${stanza.uid}`,
    `name = "${stanza.name}"`,
    `key_file = "${SERVER_KEY_DIR}/${stanza.name}.key"${note}`,
    `ports = ["tcp/${stanza.port ?? DEFAULT_STANZA_PORT}"]`,
  ].join("\n");
}
