/**
 * Command-line values, checked: each parser returns the value or throws a usage error (exit 2)
 * whose one line names the option and says what is wrong.
 *
 * @module
 */

import {
  type BindSource,
  MAX_PAD,
  MAX_RETRIES,
  parseBindSource,
  TIMEOUT_RANGE_MS,
  type TransportKind,
} from "../config/client.ts";
import { checkDuration, formatDuration } from "../config/duration.ts";
import { checkPortSpec } from "../config/port_spec.ts";
import { isValidPort, MAX_PORT } from "../protocol/port.ts";
import type { PortSpec } from "../protocol/port.ts";
import { MAX_UID } from "../protocol/constants.ts";
import { usageError } from "./errors.ts";

/** The port checks and resyncs go to when neither `--port`/`--via-port` nor the config names one. */
export const DEFAULT_CHECK_PORT = 22;

/**
 * `--port`: `22` (TCP), `tcp/22` or `udp/53`.
 *
 * @throws {ClientError} (usage) When it is not a port.
 * @example
 * ```ts
 * import { parsePortOption } from "./options.ts";
 * if (parsePortOption("udp/53").protocol !== "udp") throw new Error();
 * if (parsePortOption("22").protocol !== "tcp") throw new Error();
 * ```
 */
export function parsePortOption(text: string): PortSpec {
  if (/^\d+$/.test(text)) {
    const port = Number(text);
    if (!isValidPort(port)) {
      throw usageError(`Cannot use --port ${text}: not a port (1-${MAX_PORT})`);
    }
    return { protocol: "tcp", port };
  }
  const checked = checkPortSpec(text);
  if (checked.reason !== undefined) {
    throw usageError(
      `Cannot use --port ${text}: not a port (e.g. 22, tcp/22, udp/53; 1-${MAX_PORT})`,
    );
  }
  return checked.value;
}

/**
 * An integer option in `min..max`.
 *
 * @throws {ClientError} (usage) When it is not such an integer.
 * @example
 * ```ts
 * import { parseIntegerOption } from "./options.ts";
 * if (parseIntegerOption("--retries", "3", 0, 100) !== 3) throw new Error();
 * ```
 */
export function parseIntegerOption(name: string, text: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`Cannot use ${name} ${text}: not an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * `--via-port`: a port number.
 *
 * @example
 * ```ts
 * import { parseViaPortOption } from "./options.ts";
 * if (parseViaPortOption("443") !== 443) throw new Error();
 * ```
 */
export function parseViaPortOption(text: string): number {
  if (!/^\d+$/.test(text) || !isValidPort(Number(text))) {
    throw usageError(`Cannot use --via-port ${text}: not a port (1-${MAX_PORT})`);
  }
  return Number(text);
}

/**
 * `--uid`: a user id (0..2^40-1).
 *
 * @example
 * ```ts
 * import { parseUidOption } from "./options.ts";
 * if (parseUidOption("1000") !== 1000) throw new Error();
 * ```
 */
export function parseUidOption(text: string): number {
  return parseIntegerOption("--uid", text, 0, MAX_UID);
}

/**
 * `--pad`: bytes of random padding before the trailer (0..1024).
 *
 * @example
 * ```ts
 * import { parsePadOption } from "./options.ts";
 * if (parsePadOption("16") !== 16) throw new Error();
 * ```
 */
export function parsePadOption(text: string): number {
  return parseIntegerOption("--pad", text, 0, MAX_PAD);
}

/**
 * `--retries`: sends after the first (0..100).
 *
 * @example
 * ```ts
 * import { parseRetriesOption } from "./options.ts";
 * if (parseRetriesOption("0") !== 0) throw new Error();
 * ```
 */
export function parseRetriesOption(text: string): number {
  return parseIntegerOption("--retries", text, 0, MAX_RETRIES);
}

/**
 * `--timeout`: a duration from 10ms to 1m, e.g. `500ms`, `2s`.
 *
 * @example
 * ```ts
 * import { parseTimeoutOption } from "./options.ts";
 * if (parseTimeoutOption("500ms") !== 500) throw new Error();
 * ```
 */
export function parseTimeoutOption(text: string): number {
  const checked = checkDuration(text);
  if (checked.reason !== undefined) throw usageError(`Cannot use --timeout: ${checked.reason}`);
  const { min, max } = TIMEOUT_RANGE_MS;
  if (checked.value < min || checked.value > max) {
    const range = `${formatDuration(min)} to ${formatDuration(max)}`;
    throw usageError(`Cannot use --timeout ${text}: it must be from ${range}`);
  }
  return checked.value;
}

/**
 * `--transport`: `syn` or `udp`.
 *
 * @example
 * ```ts
 * import { parseTransportOption } from "./options.ts";
 * if (parseTransportOption("udp") !== "udp") throw new Error();
 * ```
 */
export function parseTransportOption(text: string): TransportKind {
  if (text === "syn" || text === "udp") return text;
  throw usageError(`Cannot use --transport ${text}: it must be syn or udp`);
}

/**
 * `--bind-source`: `auto`, `none` or an IP address.
 *
 * @example
 * ```ts
 * import { parseBindSourceOption } from "./options.ts";
 * if (parseBindSourceOption("none").mode !== "none") throw new Error();
 * ```
 */
export function parseBindSourceOption(text: string): BindSource {
  try {
    return parseBindSource(text);
  } catch {
    throw usageError(`Cannot use --bind-source ${text}: it must be auto, none or an IP address`);
  }
}
