/**
 * Running the program that follows a knock (`-- ssh alice@{address}`, placeholders filled in by
 * `expandExec` of the client config), inheriting the terminal; `spa-client` then exits with the
 * program's exit code.
 *
 * @module
 */

import { ClientError, usageError } from "./errors.ts";

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

/**
 * Runs `argv` with the terminal inherited and returns the exit code to pass on: the program's own,
 * or 128 + the signal number when a signal ended it (as shells report it). While it runs, Ctrl-C
 * and Ctrl-\ reach the program (it shares the terminal) and are ignored here; SIGTERM and SIGHUP
 * sent to `spa-client` are passed on to it.
 *
 * @throws {ClientError} When the program cannot be started (not found, not executable).
 * @example
 * ```ts
 * import { runProgram } from "./exec.ts";
 * if (await runProgram(["sh", "-c", "exit 7"]) !== 7) throw new Error("its own exit code");
 * const killed = await runProgram(["sh", "-c", "kill -TERM $$"]);
 * if (killed !== 128 + 15) throw new Error("128 + SIGTERM, as shells report it");
 * // spa-client then ends with it: Deno.exit(await runProgram(["ssh", "alice@10.77.0.1"]));
 * ```
 */
export async function runProgram(argv: readonly string[]): Promise<number> {
  const [program, ...args] = argv;
  if (program === undefined || program === "") {
    throw usageError("Cannot run program: the command line is empty");
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "it was not found"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    throw new ClientError(`Cannot run ${program}: ${reason}`, { cause: error });
  }
  const ignore = () => {};
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const listeners: [Deno.Signal, () => void][] = [
    ["SIGINT", ignore],
    ["SIGQUIT", ignore],
    ["SIGTERM", forward("SIGTERM")],
    ["SIGHUP", forward("SIGHUP")],
  ];
  for (const [signal, handler] of listeners) Deno.addSignalListener(signal, handler);
  try {
    const status = await child.status;
    if (status.signal !== null) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
    return status.code;
  } finally {
    for (const [signal, handler] of listeners) Deno.removeSignalListener(signal, handler);
  }
}
