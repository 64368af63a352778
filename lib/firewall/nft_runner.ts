/**
 * How the `nft` backend runs nft: one process per call (`Deno.Command`), the script as one
 * argument, every run bounded by a time limit and killable when the firewall stops.
 *
 * @module
 */

import { FirewallError } from "./backend.ts";

/** Output of one `nft` run. */
export interface NftResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Limits of one `nft` run. */
export interface NftRunLimits {
  /** Kill nft (SIGKILL) when it has not exited after this long. */
  timeoutMs: number;
  /** Kill nft at once when this aborts (the daemon is stopping). */
  signal?: AbortSignal;
}

/**
 * Runs `nft` with `args` and, optionally, a script that nft applies as one transaction;
 * replaceable for tests. Rejects with {@linkcode NftTimeoutError} when nft was killed.
 */
export type NftRunner = (
  args: readonly string[],
  script?: string,
  limits?: NftRunLimits,
) => Promise<NftResult>;

/** Default time limit of one `nft` run. */
export const NFT_TIMEOUT_MS = 5_000;

/**
 * An `nft` run was killed: it did not finish within its time limit, or the daemon stopped while
 * it ran. The change it carried may or may not be in the kernel (nft applies a script as one
 * transaction: all of it or none).
 *
 * @example
 * ```ts
 * import { NftTimeoutError } from "./nft_runner.ts";
 * import { FirewallError } from "./backend.ts";
 * const error = new NftTimeoutError("nft did not finish within 5000 ms (killed)");
 * if (!(error instanceof FirewallError)) throw new Error();
 * if (error.message !== "Cannot run nft: nft did not finish within 5000 ms (killed)") throw new Error();
 * ```
 */
export class NftTimeoutError extends FirewallError {
  override name = "NftTimeoutError";
  /** Why nft was killed, e.g. `nft did not finish within 5000 ms (killed)`. */
  readonly reason: string;

  /** `what` completes "Cannot …", e.g. `open grant` (default `run nft`). */
  constructor(reason: string, what = "run nft", options?: ErrorOptions) {
    super(`Cannot ${what}: ${reason}`, options);
    this.reason = reason;
  }
}

/**
 * The program of an nft command prefix (e.g. `["sudo", "nft"]`) and the arguments after it.
 *
 * @throws {TypeError} When `command` is empty.
 * @example
 * ```ts
 * import { splitNftCommand } from "./nft_runner.ts";
 * const [program, prefix] = splitNftCommand(["sudo", "nft"]);
 * if (program !== "sudo" || prefix.join() !== "nft") throw new Error("unexpected");
 * ```
 */
export function splitNftCommand(command: readonly string[]): [string, string[]] {
  const [program, ...prefix] = command;
  if (program === undefined) throw new TypeError("Cannot run nft: the command is empty");
  return [program, prefix];
}

/**
 * A runner that executes `command` (e.g. `["nft"]`) with the arguments and the script.
 *
 * @example
 * ```ts
 * import { commandRunner } from "./nft_runner.ts";
 * const run = commandRunner(["echo", "nft"]); // ["nft"] for the real one
 * const result = await run(["-j", "list", "tables"], undefined, { timeoutMs: 5_000 });
 * if (result.stdout !== "nft -j list tables\n") throw new Error(result.stdout);
 * ```
 */
export function commandRunner(command: readonly string[]): NftRunner {
  const [program, prefix] = splitNftCommand(command);
  // The script goes to nft as one argument, not on stdin: nft applies a multi-line argument as one
  // transaction, just like `nft -f`, and `Deno.Command.output()` without a stdin pipe avoids
  // Deno 2.9's native-memory leak in spawn() + piped stdin (about 100 kB per call,
  // denoland/deno#24674), which a long-running daemon calling nft would accumulate.
  // spawn() with stdin "null" (no pipe, so no leak) rather than output(), so that a hung nft can be
  // killed and left behind at once: output() would wait for its pipes, which a child of a hung nft
  // (a wrapper script's, say) may hold open for ever.
  return async (args, script, limits) => {
    const timeoutMs = limits?.timeoutMs ?? NFT_TIMEOUT_MS;
    const child = new Deno.Command(program, {
      args: [...prefix, ...args, ...(script === undefined ? [] : [script])],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const killed = new Promise<never>((_, reject) => {
      const kill = (why: string) => {
        try {
          child.kill("SIGKILL");
        } catch { /* already exited */ }
        reject(new NftTimeoutError(`nft ${why} (killed)`));
      };
      timer = setTimeout(() => kill(`did not finish within ${timeoutMs} ms`), timeoutMs);
      onAbort = () => kill("was stopped: the firewall is stopping");
      if (limits?.signal?.aborted) onAbort();
      limits?.signal?.addEventListener("abort", onAbort, { once: true });
    });
    let out: Deno.CommandOutput;
    try {
      out = await Promise.race([output, killed]);
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) limits?.signal?.removeEventListener("abort", onAbort);
      output.catch(() => {});
    }
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
}
