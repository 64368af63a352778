/**
 * The daemon's book of open grants, and the `on_open`/`on_close` commands of each port.
 *
 * The kernel owns expiry: a grant is an element of an nftables set whose timeout is refreshed by
 * the traffic it lets through. The daemon notices that an element has gone by polling the set
 * while any grant is open, and then runs `on_close`. Commands are per port and reference counted:
 * `on_open` runs when a port goes from no grant to one (before the knock is answered, so the
 * service is up when the client connects), `on_close` when its last grant goes.
 *
 * @module
 */

import { NftTimeoutError } from "../firewall/nft_runner.ts";
import { runCommand } from "./commands.ts";
import type { Logger } from "./log.ts";
import type { Grant, GrantTarget, LiveGrant } from "../firewall/backend.ts";
import { formatPortSpec, type PortSpec } from "../protocol/port.ts";
import type { GrantStatus } from "./status.ts";
import type { GrantRequest, UserGrant } from "./users.ts";

/** A grant the kernel reports, with the time it has left. */
export type KernelGrant = Pick<LiveGrant, "address" | "protocol" | "port" | "expiresInMs">;

/** The firewall operations the book needs. */
export interface GrantFirewall {
  /** Opens or refreshes; `fresh` tells the backend the grant is known not to be open. */
  open(grant: Grant): Promise<void>;
  list(): Promise<KernelGrant[]>;
  /** Removes a grant. */
  close(grant: GrantTarget): Promise<void>;
}

/** Commands of one port. */
export interface PortCommands {
  onOpen?: readonly string[];
  onClose?: readonly string[];
}

interface Entry extends UserGrant {
  idleTimeoutMs: number;
  /** Wall-clock time it opened (for display only). */
  openedAt: number;
  /** Monotonic: the earliest the kernel can expire it (traffic may push the real expiry later). */
  expiresAt: number;
  /** Monotonic: when the daemon last wrote it to the kernel. */
  refreshedAt: number;
}

/** Slack after a grant's earliest expiry before the kernel is asked about it. */
export const POLL_SLACK_MS = 250;
/**
 * A retransmitted knock refreshes its grant in the kernel at most once per this interval (the
 * traffic the grant lets through refreshes it anyway): a storm of copies costs one nft run.
 */
export const RETRANSMIT_REFRESH_MS = 2_000;

/** Settings of {@linkcode GrantBook}. */
export interface GrantBookOptions {
  firewall: GrantFirewall;
  commands: (port: PortSpec) => PortCommands;
  commandTimeoutMs: number;
  log: Logger;
  /**
   * Monotonic clock in milliseconds (`performance.now`): every duration (expiry, refresh) is
   * measured on it, so a step of the wall clock changes none.
   */
  now: () => number;
  /** Wall clock in milliseconds, only to show when a grant opened (default `Date.now`). */
  wallClock?: () => number;
}

/** Options of {@linkcode GrantBook.open}. */
export interface GrantOpenOptions {
  /**
   * The request repeats an accepted one (a retransmission): a grant the book holds and wrote to
   * the kernel less than {@linkcode RETRANSMIT_REFRESH_MS} ago is left as it is (no nft run).
   */
  retransmit?: boolean;
}

/**
 * Open grants, by (address, protocol, port).
 *
 * @example
 * ```ts
 * import { NoneBackend } from "../firewall/none.ts";
 * import { GrantBook } from "./grants.ts";
 * import { Logger } from "./log.ts";
 * let clock = 0; // one clock for the book and the in-memory firewall, moved by hand
 * const firewall = new NoneBackend({ now: () => clock });
 * await firewall.start([{ protocol: "tcp", port: 22, idleTimeoutMs: 300_000 }]);
 * const closed: string[] = [];
 * const book = new GrantBook({
 *   firewall,
 *   commands: () => ({ onClose: ["sh", "-c", 'echo "closed for $SPA_USER"'] }),
 *   commandTimeoutMs: 10_000,
 *   log: new Logger("text", (line) => closed.push(line)),
 *   now: () => clock,
 * });
 * const grant = { user: "alice", address: "10.77.0.2", protocol: "tcp" as const, port: 22 };
 * await book.open({ ...grant, idleTimeoutMs: 300_000 });
 * if (book.snapshot().length !== 1) throw new Error("not open");
 * clock += 301_000;
 * await book.poll(); // runs on_close for grants the kernel has expired
 * if (book.snapshot().length !== 0) throw new Error("still open");
 * if (!closed.some((line) => line.includes("closed for alice"))) throw new Error("no on_close");
 * await firewall.stop();
 * ```
 */
export class GrantBook {
  readonly #entries = new Map<string, Entry>();
  /** Grants being closed before their time: a table rebuild never writes them back. */
  readonly #closing = new Set<string>();
  readonly #options: GrantBookOptions;

  constructor(options: GrantBookOptions) {
    this.#options = options;
  }

  /** Number of open grants. */
  get size(): number {
    return this.#entries.size;
  }

  /** Opens or refreshes a grant; runs `on_open` first when its port had no grant. */
  async open(request: GrantRequest, options: GrantOpenOptions = {}): Promise<void> {
    const key = grantKey(request);
    const held = this.#entries.get(key);
    if (
      options.retransmit === true && held !== undefined &&
      this.#options.now() - held.refreshedAt < RETRANSMIT_REFRESH_MS
    ) return;
    const firstOnPort = this.#countOnPort(request) === 0 && !this.#entries.has(key);
    if (firstOnPort) await this.#run("on_open", request.user, request);
    const existing = this.#entries.get(key);
    // The book learns of every expiry from the kernel, so a grant it does not hold is not open.
    try {
      await this.#options.firewall.open({
        address: request.address,
        protocol: request.protocol,
        port: request.port,
        timeoutMs: request.idleTimeoutMs,
        fresh: existing === undefined,
      });
    } catch (error) {
      // An nft run killed at its time limit may or may not have made its change: a new grant
      // the book does not record must not stay in the kernel untracked, so take it out again.
      if (error instanceof NftTimeoutError && existing === undefined) {
        this.#options.firewall.close(request).catch((closeError) =>
          this.#options.log.error("close-failed", {
            address: request.address,
            port: formatPortSpec(request),
            reason: (closeError as Error).message,
          })
        );
      }
      throw error;
    }
    const now = this.#options.now();
    this.#entries.set(key, {
      user: request.user,
      address: request.address,
      protocol: request.protocol,
      port: request.port,
      idleTimeoutMs: request.idleTimeoutMs,
      openedAt: existing?.openedAt ?? this.#wallClock(),
      expiresAt: now + request.idleTimeoutMs,
      refreshedAt: now,
    });
  }

  /**
   * The grants the book holds, each with its full idle timeout, to write back into a firewall
   * table that was lost; counts them as written now.
   */
  restoring(): (GrantTarget & { timeoutMs: number })[] {
    const now = this.#options.now();
    const kept = [...this.#entries].filter(([key]) => !this.#closing.has(key));
    return kept.map(([, e]) => {
      e.expiresAt = now + e.idleTimeoutMs;
      e.refreshedAt = now;
      return { address: e.address, protocol: e.protocol, port: e.port, timeoutMs: e.idleTimeoutMs };
    });
  }

  /**
   * Once a grant's earliest possible expiry has passed, asks the kernel which grants are still
   * open, and closes (and runs `on_close` for) the rest. A grant in use is refreshed by its
   * traffic, so the kernel is asked about once per idle timeout, not on every call.
   */
  async poll(): Promise<void> {
    if (this.#entries.size === 0) return;
    const now = this.#options.now();
    let due = false;
    for (const entry of this.#entries.values()) due ||= now >= entry.expiresAt + POLL_SLACK_MS;
    if (!due) return;
    const live = new Map((await this.#options.firewall.list()).map((g) => [grantKey(g), g]));
    const listedAt = this.#options.now();
    for (const [key, entry] of [...this.#entries]) {
      const kernel = live.get(key);
      if (kernel !== undefined) {
        entry.expiresAt = listedAt + kernel.expiresInMs;
        continue;
      }
      await this.#closed(key, entry, "idle");
    }
  }

  /** Forgets every grant (the firewall table is being removed) and runs `on_close` per port. */
  async closeAll(reason: string): Promise<void> {
    for (const [key, entry] of [...this.#entries]) await this.#closed(key, entry, reason);
  }

  /** The open grants, for status. */
  snapshot(): GrantStatus[] {
    return [...this.#entries.values()].map((e) => ({
      user: e.user,
      address: e.address,
      protocol: e.protocol,
      port: e.port,
      openedAt: new Date(e.openedAt).toISOString(),
      expiresInMs: Math.max(0, e.expiresAt - this.#options.now()),
    }));
  }

  #wallClock(): number {
    return (this.#options.wallClock ?? Date.now)();
  }

  /** Whether the book holds `target` as an open grant (not one being closed). */
  holds(target: GrantTarget): boolean {
    const key = grantKey(target);
    return this.#entries.has(key) && !this.#closing.has(key);
  }

  /**
   * Closes a grant before its time (its user lost access): `close` removes it from the firewall,
   * then the book forgets it, logs `close` with `reason` and runs `on_close` for a port's last
   * grant. While `close` runs, a table rebuild does not write the grant back. When `close`
   * fails, the grant stays in the book (still open in the kernel) and the error is thrown.
   */
  async revoke(
    target: GrantTarget,
    reason: string,
    close: () => Promise<void>,
  ): Promise<void> {
    const key = grantKey(target);
    this.#closing.add(key);
    try {
      await close();
    } catch (error) {
      this.#closing.delete(key);
      throw error;
    }
    this.#closing.delete(key);
    await this.forget(target, reason);
  }

  /**
   * Forgets a grant the daemon closed in the firewall before its time (its user lost access):
   * logs `close` with `reason` and runs `on_close` when it was its port's last grant.
   */
  async forget(
    target: GrantTarget,
    reason: string,
  ): Promise<void> {
    const key = grantKey(target);
    const entry = this.#entries.get(key);
    if (entry !== undefined) await this.#closed(key, entry, reason);
  }

  async #closed(key: string, entry: Entry, reason: string): Promise<void> {
    // Only the entry the caller saw: a grant re-opened meanwhile (a new entry) stays.
    if (this.#entries.get(key) !== entry) return;
    this.#entries.delete(key);
    this.#options.log.info("close", {
      user: entry.user,
      address: entry.address,
      port: formatPortSpec(entry),
      reason,
    });
    if (this.#countOnPort(entry) === 0) await this.#run("on_close", entry.user, entry);
  }

  async #run(
    label: "on_open" | "on_close",
    user: string,
    grant: GrantTarget,
  ): Promise<void> {
    const commands = this.#options.commands(grant);
    const argv = label === "on_open" ? commands.onOpen : commands.onClose;
    if (argv === undefined || argv.length === 0) return;
    await runCommand(argv, {
      user,
      address: grant.address,
      protocol: grant.protocol,
      port: grant.port,
    }, {
      timeoutMs: this.#options.commandTimeoutMs,
      log: this.#options.log,
      label,
    });
  }

  #countOnPort(port: { protocol: string; port: number }): number {
    let n = 0;
    for (const e of this.#entries.values()) {
      if (e.protocol === port.protocol && e.port === port.port) n++;
    }
    return n;
  }
}

function grantKey(g: { address: string; protocol: string; port: number }): string {
  return `${g.address}|${g.protocol}|${g.port}`;
}
