/**
 * Port references as written in the server config: `"tcp/22"`, `"udp/53"`.
 *
 * @module
 */

import { isValidPort, type L4Protocol, MAX_PORT, type PortSpec } from "../protocol/port.ts";

export { formatPortSpec } from "../protocol/port.ts";
import type { Checked } from "./_checked.ts";

/**
 * Parses `"tcp/22"` or `"udp/53"`.
 *
 * @throws {SyntaxError} When `text` is not a port reference.
 * @example
 * ```ts
 * import { parsePortSpec } from "./port_spec.ts";
 * const spec = parsePortSpec("tcp/22");
 * if (spec.protocol !== "tcp" || spec.port !== 22) throw new Error();
 * ```
 */
export function parsePortSpec(text: string): PortSpec {
  const checked = checkPortSpec(text);
  if (checked.reason !== undefined) throw new SyntaxError(`Cannot parse port: ${checked.reason}`);
  return checked.value;
}

/**
 * Like {@linkcode parsePortSpec} but returns the reason instead of throwing.
 *
 * @example
 * ```ts
 * import { checkPortSpec } from "./port_spec.ts";
 * if (checkPortSpec("tcp/99999").reason !== '"tcp/99999" is not a port (1-65535)') throw new Error();
 * ```
 */
export function checkPortSpec(text: string): Checked<PortSpec> {
  const match = /^(tcp|udp)\/(\d{1,6})$/.exec(text);
  if (match === null) {
    return { reason: `${JSON.stringify(text)} is not a port reference (e.g. "tcp/22", "udp/53")` };
  }
  const port = Number(match[2]);
  if (!isValidPort(port)) {
    return { reason: `${JSON.stringify(text)} is not a port (1-${MAX_PORT})` };
  }
  return { value: { protocol: match[1] as L4Protocol, port } };
}
