/**
 * Running `on_open`/`on_close` commands: argv arrays, never a shell, with `SPA_USER`,
 * `SPA_ADDRESS`, `SPA_PROTO` and `SPA_PORT` in the environment, a time limit, and their output
 * logged line by line.
 *
 * @module
 */

import type { Logger } from "./log.ts";
import type { UserGrant } from "./users.ts";
import { formatPortSpec } from "../protocol/port.ts";

/** Longest output kept from one command, in bytes. */
export const MAX_COMMAND_OUTPUT = 16 * 1024;

/**
 * Runs `argv` for `event` with a time limit; returns the exit code (or -1 when it could not run
 * or was killed). Never throws.
 *
 * @example
 * ```ts
 * import { runCommand } from "./commands.ts";
 * import { Logger } from "./log.ts";
 * const lines: string[] = [];
 * const log = new Logger("text", (line) => lines.push(line));
 * const event = { user: "alice", address: "10.77.0.2", protocol: "tcp" as const, port: 22 };
 * const argv = ["sh", "-c", 'echo "$SPA_USER from $SPA_ADDRESS"; exit 3'];
 * const code = await runCommand(argv, event, { timeoutMs: 10_000, log, label: "on_open" });
 * if (code !== 3) throw new Error(`exit code ${code}`);
 * if (!lines.some((line) => line.includes("alice from 10.77.0.2"))) throw new Error("no output");
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  event: UserGrant,
  options: { timeoutMs: number; log: Logger; label: string },
): Promise<number> {
  const [program, ...args] = argv;
  const fields = {
    command: options.label,
    program,
    user: event.user,
    address: event.address,
    port: formatPortSpec(event),
  };
  if (program === undefined) return 0;
  // `output()` with an abort signal rather than spawn(): in Deno 2.9, spawn() with piped output
  // leaks native memory per call (denoland/deno#24674), and the daemon runs for months.
  const timeout = AbortSignal.timeout(options.timeoutMs);
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args,
      env: {
        SPA_USER: event.user,
        SPA_ADDRESS: event.address,
        SPA_PROTO: event.protocol,
        SPA_PORT: String(event.port),
      },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: timeout,
    }).output();
  } catch (error) {
    options.log.error("command-failed", { ...fields, reason: (error as Error).message });
    return -1;
  }
  for (const [stream, bytes] of [["stdout", out.stdout], ["stderr", out.stderr]] as const) {
    const text = new TextDecoder().decode(bytes.subarray(0, MAX_COMMAND_OUTPUT)) +
      (bytes.length > MAX_COMMAND_OUTPUT ? "\n[output truncated]" : "");
    for (const line of text.split("\n")) {
      if (line.trim() !== "") options.log.info("command-output", { ...fields, stream, line });
    }
  }
  if (timeout.aborted) {
    options.log.error("command-failed", {
      ...fields,
      reason: `killed after ${options.timeoutMs} ms`,
    });
    return -1;
  }
  const level = out.code === 0 ? "info" : "error";
  options.log[level]("command-done", { ...fields, exit: out.code });
  return out.code;
}
