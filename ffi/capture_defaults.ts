/**
 * The capture's defaults, apart from `pcap.ts` so that the server config's defaults
 * (`lib/config/_server_defaults.ts`) name them without importing libpcap's symbol tables.
 *
 * @example
 * ```ts
 * import { DEFAULT_BUFFER_SIZE } from "./capture_defaults.ts";
 * if (DEFAULT_BUFFER_SIZE % (256 * 1024) !== 0) throw new Error("whole 256 KiB blocks");
 * ```
 *
 * @module
 */

/** Default snapshot length: the largest libpcap accepts, so no packet is cut. */
export const DEFAULT_SNAPLEN = 262144;

/** Default kernel ring size: 6 MiB, sized by measurement (see `CaptureOptions.bufferSize`). */
export const DEFAULT_BUFFER_SIZE = 6 * 1024 * 1024;
