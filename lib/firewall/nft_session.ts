/**
 * One long-lived `nft -j -i` (interactive) process, fed one command line at a time over its
 * stdin, so that opening a grant or listing the table starts no process: the daemon execs nft
 * once, not once per knock or per tick (and avoids Deno 2.9's native-memory leak of spawn() with
 * piped stdin, about 100 kB per spawn, denoland/deno#24674, by spawning once).
 *
 * How a command's result is known: nft reads one line at a time and runs it as one transaction
 * (several commands on a line, separated by `;`, are applied all or none, like `nft -f`). It prints
 * nothing on success and an `Error:` block on stderr on failure, so after each command line the
 * session writes a sentinel line that can never parse (`__spa_sync_N`): its error echo on stderr
 * marks the end of the command's output. Whatever stderr holds before the sentinel's `Error:` is
 * the command's; with `-j`, a listing is one line of JSON on stdout, written before the sentinel
 * runs.
 *
 * Every command is bounded by a time limit: past it (or when the firewall stops) the process is
 * killed (SIGKILL) and the command rejects with {@linkcode NftTimeoutError}; the next command
 * starts a new process. A process that exits on its own fails its command the same way.
 *
 * @module
 */

import { FirewallError } from "./backend.ts";
import {
  NFT_TIMEOUT_MS,
  type NftResult,
  type NftRunLimits,
  type NftRunner,
  NftTimeoutError,
  splitNftCommand,
} from "./nft_runner.ts";

/** Prefix of the sentinel line; a counter follows it. */
const SENTINEL = "__spa_sync_";

interface Pending {
  marker: string;
  expectOutput: boolean;
  resolve: (result: NftResult) => void;
  reject: (error: Error) => void;
}

/**
 * Turns a script of `nft_script.ts` (one command per line, blocks over several lines) into one
 * line that nft applies as one transaction.
 *
 * @example
 * ```ts
 * import { scriptLine } from "./nft_session.ts";
 * const line = scriptLine("add set inet spa g {\n  type ipv4_addr;\n}\nadd element inet spa g { 10.0.0.1 }\n");
 * if (line !== "add set inet spa g { type ipv4_addr; }; add element inet spa g { 10.0.0.1 }") throw new Error(line);
 * ```
 */
export function scriptLine(script: string): string {
  let line = "";
  for (const raw of script.split("\n")) {
    const part = raw.trim();
    if (part === "") continue;
    if (line === "") line = part;
    else if (line.endsWith("{") || line.endsWith(";") || part.startsWith("}")) line += ` ${part}`;
    else line += `; ${part}`;
  }
  return line;
}

/**
 * A long-lived `nft -j -i`.
 *
 * @example
 * ```ts
 * import { NftSession } from "./nft_session.ts";
 * // Needs root: type-checked by `deno test --doc`, not run.
 * async function listSpa(): Promise<string> {
 *   const nft = new NftSession(["nft"]);
 *   const listing = await nft.run("list table inet spa", true, { timeoutMs: 5000 });
 *   nft.close();
 *   return listing.stdout;
 * }
 * ```
 */
export class NftSession {
  readonly #command: readonly [string, readonly string[]];
  #child: Deno.ChildProcess | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array> | undefined;
  #stdout = "";
  #stderr = "";
  #pending: Pending | undefined;
  #count = 0;
  #spawns = 0;
  #queue: Promise<unknown> = Promise.resolve();

  /** @param command The command prefix that runs nft, e.g. `["nft"]`. */
  constructor(command: readonly string[]) {
    this.#command = splitNftCommand(command);
  }

  /** How many nft processes the session has started so far. */
  get spawns(): number {
    return this.#spawns;
  }

  /** The pid of the running nft, if one runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Runs one command line (a transaction) and returns its result; `code` is 1 when nft printed an
   * error. With `expectOutput`, a successful command's stdout (one JSON line) is awaited too.
   *
   * @throws {NftTimeoutError} When nft was killed (time limit, or `limits.signal` aborted).
   */
  run(
    line: string,
    expectOutput: boolean,
    limits: NftRunLimits = { timeoutMs: NFT_TIMEOUT_MS },
  ): Promise<NftResult> {
    if (line.includes("\n")) throw new TypeError("Cannot run nft: a command line holds a newline");
    const task = () => this.#runOne(line, expectOutput, limits);
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => {});
    return next;
  }

  /** Kills the process, if any (safe to call twice); a later `run` starts a new one. */
  close(): void {
    this.#kill(new NftTimeoutError("nft was stopped: the firewall is stopping (killed)"));
  }

  async #runOne(line: string, expectOutput: boolean, limits: NftRunLimits): Promise<NftResult> {
    if (limits.signal?.aborted) {
      throw new NftTimeoutError("nft was stopped: the firewall is stopping (killed)");
    }
    if (this.#child === undefined) this.#spawn();
    const marker = `${SENTINEL}${++this.#count}`;
    const result = new Promise<NftResult>((resolve, reject) => {
      this.#pending = { marker, expectOutput, resolve, reject };
    });
    const timer = setTimeout(
      () =>
        this.#kill(
          new NftTimeoutError(`nft did not finish within ${limits.timeoutMs} ms (killed)`),
        ),
      limits.timeoutMs,
    );
    const onAbort = () =>
      this.#kill(new NftTimeoutError("nft was stopped: the firewall is stopping (killed)"));
    limits.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      this.#writer!.write(new TextEncoder().encode(`${line}\n${marker}\n`)).catch((error) =>
        this.#kill(new FirewallError(`Cannot run nft: ${(error as Error).message}`))
      );
      return await result;
    } finally {
      clearTimeout(timer);
      limits.signal?.removeEventListener("abort", onAbort);
    }
  }

  #spawn(): void {
    const [program, prefix] = this.#command;
    const child = new Deno.Command(program, {
      args: [...prefix, "-j", "-i"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#spawns++;
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#stdout = "";
    this.#stderr = "";
    const read = async (stream: ReadableStream<Uint8Array>, which: "out" | "err") => {
      try {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          if (this.#child !== child) return;
          if (which === "out") this.#stdout += chunk;
          else this.#stderr += chunk;
          this.#settle();
        }
      } catch { /* killed */ }
    };
    void read(child.stdout, "out");
    void read(child.stderr, "err");
    child.status.then((status) => {
      if (this.#child !== child) return;
      this.#kill(new FirewallError(`Cannot run nft: nft exited with code ${status.code}`));
    }).catch(() => {});
  }

  /** Resolves the pending command once its sentinel (and, when awaited, its output) arrived. */
  #settle(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    const echo = this.#stderr.indexOf(`\n${pending.marker}\n`);
    if (echo < 0) return;
    const caretEnd = this.#stderr.indexOf("\n", echo + pending.marker.length + 2);
    if (caretEnd < 0) return;
    const sentinelStart = Math.max(0, this.#stderr.lastIndexOf("Error:", echo));
    const stderr = this.#stderr.slice(0, sentinelStart);
    const failed = /Error:/.test(stderr);
    let stdout = "";
    if (pending.expectOutput && !failed) {
      const end = this.#stdout.indexOf("\n");
      if (end < 0) return;
      stdout = this.#stdout.slice(0, end + 1);
      this.#stdout = this.#stdout.slice(end + 1);
    } else {
      stdout = this.#stdout;
      this.#stdout = "";
    }
    this.#stderr = this.#stderr.slice(caretEnd + 1);
    this.#pending = undefined;
    pending.resolve({ code: failed ? 1 : 0, stdout, stderr });
  }

  #kill(error: Error): void {
    const child = this.#child;
    this.#child = undefined;
    this.#writer = undefined;
    if (child !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      child.status.catch(() => {});
    }
    const pending = this.#pending;
    this.#pending = undefined;
    pending?.reject(error);
  }
}

/**
 * An {@linkcode NftRunner} that sends scripts (`args` empty) and listings (`-j …`, no script) to
 * `session`, and everything else (e.g. `-c`) to `fallback`.
 *
 * @example
 * ```ts
 * import { commandRunner, type NftResult } from "./nft_runner.ts";
 * import { NftSession, sessionRunner } from "./nft_session.ts";
 * // Changes the host's ruleset (root): type-checked by `deno test --doc`, not run.
 * async function listTables(): Promise<NftResult> {
 *   const session = new NftSession(["nft"]);
 *   const run = sessionRunner(session, commandRunner(["nft"]));
 *   try {
 *     return await run(["-j", "list", "tables"]); // a listing: through the session
 *   } finally {
 *     session.close();
 *   }
 * }
 * ```
 */
export function sessionRunner(session: NftSession, fallback: NftRunner): NftRunner {
  return (args, script, limits) => {
    if (args.length === 0 && script !== undefined) {
      return session.run(scriptLine(script), false, limits);
    }
    if (args[0] === "-j" && script === undefined) {
      return session.run(args.slice(1).join(" "), true, limits);
    }
    return fallback(args, script, limits);
  };
}
