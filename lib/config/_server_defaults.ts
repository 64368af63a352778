/**
 * The defaults of the server config's optional keys (private to `lib/config`; `server.ts`
 * re-exports them).
 *
 * @module
 */

import { DEFAULT_BUFFER_SIZE } from "../../ffi/capture_defaults.ts";
import { DEFAULT_MAX_AGE_SECONDS, DEFAULT_REPLAY_CAPACITY } from "../protocol/constants.ts";

/** The defaults of the optional keys, as written in a config. */
export const SERVER_DEFAULTS = Object.freeze(
  {
    interfaces: ["any"],
    state_dir: "/var/lib/spa",
    firewall: "nft",
    nft_table: "spa",
    idle_timeout: "5m",
    max_packet_age: `${DEFAULT_MAX_AGE_SECONDS}s`,
    resync_grace: "10m",
    log_format: "text",
    command_timeout: "10s",
    nft_timeout: "5s",
    protected_response: "drop",
    capture_buffer: `${DEFAULT_BUFFER_SIZE / (1024 * 1024)}MiB`,
    promiscuous: false,
    replay_capacity: DEFAULT_REPLAY_CAPACITY,
    rate_limit: { failed_per_second: 10, failed_burst: 20, tracked_sources: 4096 },
    sources: ["0.0.0.0/0", "::/0"],
    require_source_binding: false,
  } as const,
);
