/**
 * One line per event on stderr, as text (`time event key=value ...`) or JSON. Callers pass only
 * fields chosen for logs: user names, addresses, ports, reasons, counts. There is no way to log a
 * key, a secret or a raw trailer through this API, since nothing takes bytes.
 *
 * @module
 */

import type { LogFormat } from "../config/server.ts";

export type { LogFormat };

/** Severity of a line. */
export type LogLevel = "info" | "warn" | "error";

/** Values a log field may hold. */
export type LogValue = string | number | boolean | undefined;

/** Where lines go; tests capture them. */
export type LogSink = (line: string) => void;

const encoder = new TextEncoder();

/** Writes a line to stderr synchronously, so nothing is lost on exit. */
export function stderrSink(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/**
 * The daemon's logger.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 * const lines: string[] = [];
 * const log = new Logger("text", (line) => lines.push(line), () => new Date(0));
 * log.info("accept", { user: "alice", address: "10.77.0.2", port: "tcp/22" });
 * if (lines[0] !== "1970-01-01T00:00:00.000Z info accept user=alice address=10.77.0.2 port=tcp/22") {
 *   throw new Error(lines[0]);
 * }
 * ```
 */
export class Logger {
  format: LogFormat;
  readonly #sink: LogSink;
  readonly #clock: () => Date;

  constructor(
    format: LogFormat = "text",
    sink: LogSink = stderrSink,
    clock: () => Date = () => new Date(),
  ) {
    this.format = format;
    this.#sink = sink;
    this.#clock = clock;
  }

  /** Logs an event. */
  info(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write("info", event, fields);
  }

  /** Logs something that needs attention but does not stop the daemon. */
  warn(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write("warn", event, fields);
  }

  /** Logs a failure. */
  error(event: string, fields: Record<string, LogValue> = {}): void {
    this.#write("error", event, fields);
  }

  #write(level: LogLevel, event: string, fields: Record<string, LogValue>): void {
    const time = this.#clock().toISOString();
    if (this.format === "json") {
      const record: Record<string, LogValue> = { time, level, event };
      for (const [key, value] of Object.entries(fields)) {
        if (value !== undefined) record[key] = value;
      }
      this.#sink(JSON.stringify(record));
      return;
    }
    let line = `${time} ${level} ${event}`;
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const text = String(value);
      line += ` ${key}=${/^[\w.:/@+-]+$/.test(text) ? text : JSON.stringify(text)}`;
    }
    this.#sink(line);
  }
}
