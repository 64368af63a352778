/**
 * The server's durable per-user state: `<state_dir>/users/<uid>.json`, replaced atomically and
 * fsynced (temp file, fsync, rename, fsync the folder) before any port opens.
 *
 * A file records the key's fingerprint: when the key file changes (a new key), the stored numbers
 * belong to the old key and the state starts again from the key file's initial sequence.
 *
 * The replay cache's spent marks (`replay_cache.ts`) live apart, in `<uid>.spent` (the fingerprint,
 * a newline, then the packed marks), rewritten durably only when marks were added — before the
 * user's file that no longer holds their tags — so a user knocking often does not rewrite
 * thousands of marks with every knock.
 *
 * @module
 */

import { decodeHex, encodeHex } from "../protocol/hex.ts";
import { ReplayCache } from "../protocol/replay_cache.ts";
import { isSequence } from "../protocol/message.ts";
import type { PortSpec } from "../protocol/port.ts";
import { readTextFileIfExists, writeFileAtomic } from "./atomic_file.ts";
import type { ServerSequence } from "./sequence.ts";

/** One user's stored state. */
export interface ServerUserRecord {
  sequence: ServerSequence;
  replay: ReplayCache;
  lastAccepted?: StoredLastAccepted;
}

/** The last accepted request, as stored (bytes as hex). */
export interface StoredLastAccepted {
  trailer: Uint8Array;
  source: Uint8Array;
  timestamp: number;
  reply: Uint8Array;
  grant?: PortSpec;
}

interface FileShape {
  version: 1;
  uid: number;
  fingerprint: string;
  sequence: ServerSequence;
  replay: unknown;
  lastAccepted?: {
    trailer: string;
    source: string;
    timestamp: number;
    reply: string;
    grant?: PortSpec;
  };
}

/**
 * Per-user state files in one folder.
 *
 * @example
 * ```ts
 * import { ServerStore } from "./server_store.ts";
 * const stateDir = await Deno.makeTempDir();
 * const store = new ServerStore(stateDir);
 * const fingerprint = "00".repeat(32); // of the user's key
 * const record = await store.load(1000, fingerprint, 77, 1024); // fresh: no file yet
 * record.sequence = { state: "current", sequence: 78 };
 * await store.save(1000, fingerprint, record);
 * const again = await store.load(1000, fingerprint, 77, 1024);
 * if (again.fresh || again.sequence.sequence !== 78) throw new Error("not stored");
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export class ServerStore {
  readonly #dir: string;
  /** Per user: the spent-marks version last written (absent: not written by this process). */
  readonly #spentWritten = new Map<number, number>();

  constructor(stateDir: string) {
    this.#dir = `${stateDir}/users`;
  }

  /** The file of a user. */
  path(uid: number): string {
    return `${this.#dir}/${uid}.json`;
  }

  /**
   * A user's state, or a fresh one from `initialSequence` when there is no file or it belongs to
   * another key (`fingerprint` differs).
   *
   * @throws {SyntaxError} When the file exists but is not a valid state file (never expected:
   * writes are atomic; the daemon refuses to start rather than guess).
   */
  async load(
    uid: number,
    fingerprint: string,
    initialSequence: number,
    replayCapacity: number,
  ): Promise<ServerUserRecord & { fresh: boolean }> {
    const text = await readTextFileIfExists(this.path(uid));
    return this.#record(text, uid, fingerprint, initialSequence, replayCapacity);
  }

  /**
   * {@linkcode ServerStore.load} with one synchronous read: the daemon loads a user's state the
   * first time one of her packets arrives, inside the packet path.
   *
   * @throws {SyntaxError} When the file exists but is not a valid state file.
   * @throws {Deno.errors.PermissionDenied} Or another read error, unchanged.
   */
  loadSync(
    uid: number,
    fingerprint: string,
    initialSequence: number,
    replayCapacity: number,
  ): ServerUserRecord & { fresh: boolean } {
    let text: string | undefined;
    try {
      text = Deno.readTextFileSync(this.path(uid));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    return this.#record(text, uid, fingerprint, initialSequence, replayCapacity);
  }

  #record(
    text: string | undefined,
    uid: number,
    fingerprint: string,
    initialSequence: number,
    replayCapacity: number,
  ): ServerUserRecord & { fresh: boolean } {
    if (text !== undefined) {
      const file = parseFile(text, this.path(uid));
      if (file.uid === uid && file.fingerprint === fingerprint) {
        return {
          sequence: file.sequence,
          replay: this.#restoreSpent(
            uid,
            fingerprint,
            ReplayCache.fromJSON(file.replay, replayCapacity),
          ),
          ...(file.lastAccepted
            ? {
              lastAccepted: {
                trailer: decodeHex(file.lastAccepted.trailer),
                source: decodeHex(file.lastAccepted.source),
                timestamp: file.lastAccepted.timestamp,
                reply: decodeHex(file.lastAccepted.reply),
                ...(file.lastAccepted.grant ? { grant: file.lastAccepted.grant } : {}),
              },
            }
            : {}),
          fresh: false,
        };
      }
    }
    return {
      sequence: { state: "current", sequence: initialSequence },
      replay: new ReplayCache(replayCapacity),
      fresh: true,
    };
  }

  /** Durably replaces a user's state file (and its spent marks, when they changed). */
  async save(uid: number, fingerprint: string, record: ServerUserRecord): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const version = record.replay.spentVersion;
    if (this.#spentWritten.get(uid) !== version && (version > 0 || this.#spentWritten.has(uid))) {
      const marks = record.replay.spentBytes();
      const header = new TextEncoder().encode(`${fingerprint}\n`);
      const bytes = new Uint8Array(header.length + marks.length);
      bytes.set(header);
      bytes.set(marks, header.length);
      await writeFileAtomic(this.#spentPath(uid), bytes);
      this.#spentWritten.set(uid, version);
    }
    const last = record.lastAccepted;
    const file: FileShape = {
      version: 1,
      uid,
      fingerprint,
      sequence: record.sequence,
      replay: record.replay.toJSON(),
      ...(last
        ? {
          lastAccepted: {
            trailer: encodeHex(last.trailer),
            source: encodeHex(last.source),
            timestamp: last.timestamp,
            reply: encodeHex(last.reply),
            ...(last.grant ? { grant: last.grant } : {}),
          },
        }
        : {}),
    };
    await writeFileAtomic(this.path(uid), JSON.stringify(file) + "\n");
  }

  #spentPath(uid: number): string {
    return `${this.#dir}/${uid}.spent`;
  }

  /** Adds the user's stored spent marks to `cache`, when they belong to the same key. */
  /** Synchronous, like the rest of a user's load (it runs in the packet path, see `loadSync`). */
  #restoreSpent(uid: number, fingerprint: string, cache: ReplayCache): ReplayCache {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(this.#spentPath(uid));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return cache;
      throw error;
    }
    const newline = bytes.indexOf(0x0a);
    if (newline < 0 || new TextDecoder().decode(bytes.subarray(0, newline)) !== fingerprint) {
      return cache;
    }
    try {
      cache.restoreSpent(bytes.subarray(newline + 1));
    } catch (error) {
      throw new SyntaxError(
        `Cannot read ${this.#spentPath(uid)}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.#spentWritten.set(uid, -1);
    return cache;
  }
}

function parseFile(text: string, path: string): FileShape {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SyntaxError(`Cannot read state file ${path}: it is not JSON`);
  }
  const file = value as Partial<FileShape>;
  const s = file.sequence;
  const okSequence = s !== undefined &&
    ((s.state === "current" && isSequence(s.sequence)) ||
      (s.state === "pending" && isSequence(s.sequence) && isSequence(s.pending) &&
        typeof s.graceUntil === "number"));
  if (
    file.version !== 1 || typeof file.uid !== "number" || typeof file.fingerprint !== "string" ||
    !okSequence
  ) {
    throw new SyntaxError(`Cannot read state file ${path}: it is not a spa server state file`);
  }
  return file as FileShape;
}
