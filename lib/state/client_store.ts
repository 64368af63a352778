/**
 * The client's sequence state: one small JSON file per host, `<state_dir>/hosts/<stem>.json`,
 * replaced durably (`atomic_file.ts`), a lock file beside it (`<stem>.lock`) held exclusively
 * for a whole knock, so two clients at once never spend the same number (the second waits), and a
 * journal (`<stem>.journal`, `journal.ts`) that holds the save made right before a knock leaves
 * until the state file is written after it.
 *
 * ```json
 * { "version": 1, "uid": 1000, "fingerprint": "0123456789abcdef",
 *   "sequence": { "state": "current", "sequence": 3735928559, "unconfirmed": [42] } }
 * ```
 *
 * The fingerprint is `keyFingerprint(secret, uid)` of the key file the state belongs to: when the
 * file is absent, or was written for another key or user, the state starts again from the key
 * file's initial sequence number.
 *
 * @module
 */

import { join } from "../posix_path.ts";
import { isSequence } from "../protocol/message.ts";
import { readFileIfExistsSync, writeFileAtomic } from "./atomic_file.ts";
import {
  clearJournalSync,
  currentRecord,
  journalBase,
  type JournalRecord,
  readJournalSync,
  writeJournalSync,
} from "./journal.ts";
import { type ClientSequence, MAX_UNCONFIRMED } from "./sequence.ts";

const textDecoder = new TextDecoder();

/** Version of the state file format. */
export const CLIENT_STATE_VERSION = 1;

/** A host's state file. */
export interface ClientStateFile {
  version: typeof CLIENT_STATE_VERSION;
  /** The user id the state belongs to. */
  uid: number;
  /** `keyFingerprint(secret, uid)` of the key the state belongs to. */
  fingerprint: string;
  /** The sequence state machine (see `sequence.ts`). */
  sequence: ClientSequence;
}

/** Which key a state belongs to, and where it starts without a usable file. */
export interface KeyIdentity {
  uid: number;
  fingerprint: string;
  /** The key file's initial sequence number. */
  initialSequence: number;
}

/** Where a loaded state came from. */
export type StateOrigin =
  /** The state file, written for this key. */
  | "stored"
  /** No state file yet: the key file's initial number. */
  | "initial"
  /** The file belonged to another key or user: the key file's initial number. */
  | "new-key";

/**
 * A state file that exists but cannot be used (not JSON, another format version, out-of-range
 * numbers). It is never overwritten silently: the message says to remove it and resync.
 *
 * @example
 * ```ts
 * import { StateFileError } from "./client_store.ts";
 * const error = new StateFileError("/s/hosts/web1.json", "it is not JSON");
 * if (!error.message.startsWith("Cannot use state file /s/hosts/web1.json: it is not JSON")) {
 *   throw new Error(error.message);
 * }
 * ```
 */
export class StateFileError extends Error {
  override name = "StateFileError";
  /** The state file. */
  readonly path: string;

  constructor(path: string, reason: string) {
    super(`Cannot use state file ${path}: ${reason}`);
    this.path = path;
  }
}

const SAFE = /[A-Za-z0-9_.-]/;

/**
 * The file stem of a host named in the config: letters, digits, `_`, `-` and `.` (not leading)
 * are kept, every other byte is written `%XX`, so two names never share a file and no name leaves
 * the folder.
 *
 * @example
 * ```ts
 * import { hostFileStem } from "./client_store.ts";
 * if (hostFileStem("web1") !== "web1") throw new Error();
 * if (hostFileStem("../x") !== "%2E.%2Fx") throw new Error(hostFileStem("../x"));
 * ```
 */
export function hostFileStem(name: string): string {
  if (name === "") throw new TypeError("Cannot name state file: the host name is empty");
  let out = "";
  for (const char of name) {
    if (SAFE.test(char) && !(out === "" && char === ".")) {
      out += char;
      continue;
    }
    for (const byte of new TextEncoder().encode(char)) {
      out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
    }
  }
  return out;
}

/**
 * The file stem of a host given by address: `ADDRESS@UID` (host names never hold a bare `@`).
 *
 * @param address The canonical text form of the address.
 * @param uid The user id.
 * @example
 * ```ts
 * import { addressFileStem } from "./client_store.ts";
 * if (addressFileStem("fd77::1", 1000) !== "fd77::1@1000") throw new Error();
 * ```
 */
export function addressFileStem(address: string, uid: number): string {
  if (!/^[0-9a-fA-F.:]+$/.test(address)) {
    throw new TypeError(`Cannot name state file: ${JSON.stringify(address)} is not an address`);
  }
  return `${address}@${uid}`;
}

/**
 * Parses and checks a state file's text.
 *
 * @throws {SyntaxError} With the reason, when it is not a version-1 state file.
 * @example
 * ```ts
 * import { parseClientState } from "./client_store.ts";
 * const file = parseClientState(
 *   '{"version":1,"uid":7,"fingerprint":"00","sequence":{"state":"current","sequence":5}}',
 * );
 * if (file.sequence.sequence !== 5) throw new Error();
 * ```
 */
export function parseClientState(text: string): ClientStateFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new SyntaxError("it is not JSON");
  }
  if (!isRecord(data)) throw new SyntaxError("it is not a JSON object");
  if (data.version !== CLIENT_STATE_VERSION) {
    throw new SyntaxError(`its version is ${JSON.stringify(data.version)}, expected 1`);
  }
  if (!Number.isSafeInteger(data.uid) || (data.uid as number) < 0) {
    throw new SyntaxError("its uid is not a user id");
  }
  if (typeof data.fingerprint !== "string" || !/^[0-9a-f]{1,64}$/.test(data.fingerprint)) {
    throw new SyntaxError("its fingerprint is not hexadecimal");
  }
  return {
    version: CLIENT_STATE_VERSION,
    uid: data.uid as number,
    fingerprint: data.fingerprint,
    sequence: parseSequence(data.sequence),
  };
}

/**
 * The text of a state file (one line of JSON and a newline).
 *
 * @example
 * ```ts
 * import { formatClientState, parseClientState } from "./client_store.ts";
 * const text = formatClientState({
 *   version: 1,
 *   uid: 7,
 *   fingerprint: "ab",
 *   sequence: { state: "pending", sequence: 9, previous: 5, graceUntil: 100 },
 * });
 * if (parseClientState(text).sequence.state !== "pending") throw new Error();
 * ```
 */
export function formatClientState(file: ClientStateFile): string {
  return `${JSON.stringify(file)}\n`;
}

function parseSequence(value: unknown): ClientSequence {
  if (!isRecord(value)) throw new SyntaxError("its sequence is not an object");
  const sequence = value.sequence;
  if (typeof sequence !== "number" || !isSequence(sequence)) {
    throw new SyntaxError("its sequence number is not in 1..2^32-1");
  }
  let unconfirmed: number[] | undefined;
  if (value.unconfirmed !== undefined) {
    if (
      !Array.isArray(value.unconfirmed) ||
      !value.unconfirmed.every((n) => typeof n === "number" && isSequence(n))
    ) {
      throw new SyntaxError("its unconfirmed numbers are not sequence numbers");
    }
    unconfirmed = (value.unconfirmed as number[]).slice(-MAX_UNCONFIRMED);
  }
  const extra = unconfirmed === undefined ? {} : { unconfirmed };
  switch (value.state) {
    case "current":
      return { state: "current", sequence, ...extra };
    case "pending": {
      const { previous, graceUntil } = value;
      if (typeof previous !== "number" || !isSequence(previous)) {
        throw new SyntaxError("its previous sequence number is not in 1..2^32-1");
      }
      if (typeof graceUntil !== "number" || !Number.isFinite(graceUntil)) {
        throw new SyntaxError("its graceUntil is not a time");
      }
      return { state: "pending", sequence, previous, graceUntil, ...extra };
    }
    default:
      throw new SyntaxError(`its state ${JSON.stringify(value.state)} is not current or pending`);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Options of {@linkcode HostState.lock}. */
export interface LockOptions {
  /** Called once when another process holds the lock and this one starts waiting. */
  onWait?: () => void;
}

/**
 * A host's state, locked. Get one with {@linkcode HostState.lock}; `load`, `save` while holding
 * it; `unlock()` (or `using`) when the knock is over. The lock is `flock`-style on the lock file,
 * released by the kernel if the process dies.
 *
 * @example
 * ```ts
 * import { HostState } from "./client_store.ts";
 * const dir = await Deno.makeTempDir();
 * const identity = { uid: 7, fingerprint: "ab", initialSequence: 5 };
 * {
 *   using state = await HostState.lock(dir, "web1");
 *   const loaded = await state.load(identity);
 *   if (loaded.origin !== "initial" || loaded.sequence.sequence !== 5) throw new Error();
 *   await state.save(identity, { state: "current", sequence: 6 });
 *   if ((await state.load(identity)).sequence.sequence !== 6) throw new Error();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class HostState implements Disposable {
  /** The state file. */
  readonly path: string;
  /** The lock file beside it. */
  readonly lockPath: string;
  /** The journal beside it (`journal.ts`): where {@linkcode HostState.saveSync} writes. */
  readonly journalPath: string;
  #lock: Deno.FsFile | undefined;
  /** The state file's base and the journal's records, as last read or written (see saveSync). */
  #seen: { base: Uint8Array; records: JournalRecord[] } | undefined;

  private constructor(path: string, lockPath: string, journalPath: string, lock: Deno.FsFile) {
    this.path = path;
    this.lockPath = lockPath;
    this.journalPath = journalPath;
    this.#lock = lock;
  }

  /**
   * Creates `<stateDir>/hosts` (mode 0700) if needed and takes the exclusive lock of `stem`,
   * waiting for another holder to finish. The folder, the lock file and a free lock are taken
   * with synchronous calls (no turn of the event loop each, before the client's knock); only
   * waiting for another holder is asynchronous.
   *
   * @param stateDir The client's state folder.
   * @param stem From {@linkcode hostFileStem} or {@linkcode addressFileStem}.
   * @throws {Deno.errors.PermissionDenied} And other file errors, unchanged.
   */
  static async lock(stateDir: string, stem: string, options: LockOptions = {}): Promise<HostState> {
    if (stem === "" || stem.includes("/") || stem.startsWith(".")) {
      throw new TypeError(`Cannot lock state: ${JSON.stringify(stem)} is not a file stem`);
    }
    const folder = join(stateDir, "hosts");
    Deno.mkdirSync(folder, { recursive: true, mode: 0o700 });
    const lockPath = join(folder, `${stem}.lock`);
    const file = Deno.openSync(lockPath, { read: true, write: true, create: true, mode: 0o600 });
    try {
      if (!file.tryLockSync(true)) {
        options.onWait?.();
        await file.lock(true);
      }
    } catch (error) {
      file.close();
      throw error;
    }
    return new HostState(
      join(folder, `${stem}.json`),
      lockPath,
      join(folder, `${stem}.journal`),
      file,
    );
  }

  /**
   * The stored state when it belongs to `identity`, else the key file's initial number (read
   * synchronously: it is the last step before the knock's save). The stored state is the
   * journal's record while one applies (a knock's save whose state file was not written since),
   * else the state file.
   *
   * @throws {StateFileError} When the file exists but is not a usable state file.
   */
  load(identity: KeyIdentity): Promise<{ sequence: ClientSequence; origin: StateOrigin }> {
    try {
      return Promise.resolve(this.#load(identity));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #load(identity: KeyIdentity): { sequence: ClientSequence; origin: StateOrigin } {
    this.#held();
    const bytes = readFileIfExistsSync(this.path);
    const stored = bytes === undefined ? undefined : textDecoder.decode(bytes);
    const base = journalBase(bytes);
    const records = this.#readJournal();
    this.#seen = { base, records };
    const record = currentRecord(records, base);
    const [path, text] = record === undefined
      ? [this.path, stored]
      : [this.journalPath, record.text];
    const initial: ClientSequence = { state: "current", sequence: identity.initialSequence };
    if (text === undefined) return { sequence: initial, origin: "initial" };
    let file: ClientStateFile;
    try {
      file = parseClientState(text);
    } catch (error) {
      throw new StateFileError(path, (error as Error).message);
    }
    if (file.uid !== identity.uid || file.fingerprint !== identity.fingerprint) {
      return { sequence: initial, origin: "new-key" };
    }
    return { sequence: file.sequence, origin: "stored" };
  }

  /**
   * Replaces the state file durably (fsync of file and folder), then clears the journal, before
   * returning.
   */
  async save(identity: KeyIdentity, sequence: ClientSequence): Promise<void> {
    this.#held();
    const text = this.#format(identity, sequence);
    this.#seen = undefined;
    await writeFileAtomic(this.path, text);
    clearJournalSync(this.journalPath);
  }

  /**
   * Saves as durably as {@linkcode HostState.save}, with synchronous calls, into the journal
   * (`journal.ts`: one in-place write and `fdatasync`, 0.17 ms against 1.8 ms for replacing the
   * state file, this machine): {@linkcode HostState.load} returns it until the next `save`,
   * which the caller makes once the knock is over. The client saves its unconfirmed number this
   * way right before a knock leaves.
   */
  saveSync(identity: KeyIdentity, sequence: ClientSequence): void {
    this.#held();
    const text = this.#format(identity, sequence);
    let seen = this.#seen;
    if (seen === undefined) {
      const base = journalBase(readFileIfExistsSync(this.path));
      seen = { base, records: this.#readJournal() };
    }
    this.#seen = undefined;
    const records = writeJournalSync(this.journalPath, seen.records, seen.base, text);
    this.#seen = { base: seen.base, records };
  }

  /** The journal's records; a journal that cannot be read is a {@linkcode StateFileError}. */
  #readJournal(): JournalRecord[] {
    try {
      return readJournalSync(this.journalPath);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) throw error;
      throw new StateFileError(this.journalPath, `it cannot be read (${(error as Error).message})`);
    }
  }

  #format(identity: KeyIdentity, sequence: ClientSequence): string {
    return formatClientState({
      version: CLIENT_STATE_VERSION,
      uid: identity.uid,
      fingerprint: identity.fingerprint,
      sequence,
    });
  }

  /** Releases the lock; safe to call twice. */
  unlock(): void {
    const lock = this.#lock;
    if (lock === undefined) return;
    this.#lock = undefined;
    lock.close(); // closing the descriptor releases the flock
  }

  /** Same as {@linkcode HostState.unlock}. */
  [Symbol.dispose](): void {
    this.unlock();
  }

  #held(): void {
    if (this.#lock === undefined) throw new TypeError("Cannot use state: the lock was released");
  }
}
