/**
 * Running `on_open`/`on_close` commands: argv arrays, never a shell, with `SPA_USER`,
 * `SPA_ADDRESS`, `SPA_PROTO` and `SPA_PORT` in the environment, a time limit, and their output
 * logged line by line.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** What a command is run for. */
export interface CommandEvent {
  user: string;
  address: string;
  protocol: "tcp" | "udp";
  port: number;
}

/** Longest output kept from one command, in bytes. */
export const MAX_COMMAND_OUTPUT = 16 * 1024;

/**
 * Runs `argv` for `event` with a time limit; returns the exit code (or -1 when it could not run
 * or was killed). Never throws.
 *
 * @example
 * ```ts ignore
 * await runCommand(["systemctl", "start", "ssh"], event, { timeoutMs: 10_000, log, label: "on_open" });
 * ```
 */
export async function runCommand(
  argv: readonly string[],
  event: CommandEvent,
  options: { timeoutMs: number; log: Logger; label: string },
): Promise<number> {
  const [program, ...args] = argv;
  const fields = {
    command: options.label,
    program,
    user: event.user,
    address: event.address,
    port: `${event.protocol}/${event.port}`,
  };
  if (program === undefined) return 0;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
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
    }).spawn();
  } catch (error) {
    options.log.error("command-failed", { ...fields, reason: (error as Error).message });
    return -1;
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
  }, options.timeoutMs);
  try {
    const [status, stdout, stderr] = await Promise.all([
      child.status,
      readCapped(child.stdout),
      readCapped(child.stderr),
    ]);
    for (const [stream, text] of [["stdout", stdout], ["stderr", stderr]] as const) {
      for (const line of text.split("\n")) {
        if (line.trim() !== "") options.log.info("command-output", { ...fields, stream, line });
      }
    }
    if (timedOut) {
      options.log.error("command-failed", {
        ...fields,
        reason: `killed after ${options.timeoutMs} ms`,
      });
      return -1;
    }
    const level = status.code === 0 ? "info" : "error";
    options.log[level]("command-done", { ...fields, exit: status.code });
    return status.code;
  } finally {
    clearTimeout(timer);
  }
}

async function readCapped(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    if (size < MAX_COMMAND_OUTPUT) chunks.push(chunk.subarray(0, MAX_COMMAND_OUTPUT - size));
    size += chunk.length;
  }
  const all = new Uint8Array(Math.min(size, MAX_COMMAND_OUTPUT));
  let o = 0;
  for (const chunk of chunks) {
    all.set(chunk, o);
    o += chunk.length;
  }
  return new TextDecoder().decode(all) + (size > MAX_COMMAND_OUTPUT ? "\n[output truncated]" : "");
}
