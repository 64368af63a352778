/**
 * Configuration: durations and sizes, addresses and prefixes, the server and client TOML schemas,
 * key files and the secrets they hold.
 *
 * @example
 * ```ts
 * import { formatDuration, parseDuration } from "./mod.ts";
 * if (formatDuration(parseDuration("1m30s")) !== "1m 30s") throw new Error();
 * ```
 *
 * @module
 */

export * from "./address.ts";
export * from "./byte_size.ts";
export * from "./cidr.ts";
export * from "./client.ts";
export * from "./config_error.ts";
export * from "./duration.ts";
export * from "./key_file.ts";
export * from "./port_spec.ts";
export * from "./secret.ts";
export * from "./server.ts";
export * from "./server_load.ts";
