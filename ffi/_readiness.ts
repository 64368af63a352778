/**
 * Waiting, off the main thread, until a file descriptor is readable, in a way another caller can
 * cut short. Private to `ffi/`.
 *
 * @module
 */

import { type Libc, loadLibc, systemError } from "./libc.ts";

const POLLIN = 1;
const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
/** The 8-byte value written to the eventfd to end a `poll`. */
const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

/**
 * `poll` on `fd` and on an own eventfd, run on a worker thread (the symbol is declared
 * `nonblocking`): no CPU while idle, the event loop stays free, and {@linkcode Readiness.wake}
 * ends a pending wait at once.
 *
 * @example
 * ```ts
 * import { Readiness } from "./_readiness.ts";
 * import { AF_INET, loadLibc } from "./libc.ts";
 * const libc = loadLibc();
 * const fd = libc.socket(AF_INET, 2, 0); // a UDP socket nobody sends to
 * const readiness = new Readiness(fd);
 * const waiting = readiness.wait(); // until fd is readable, or wake()
 * readiness.wake();
 * await waiting;
 * readiness.close();
 * libc.close(fd);
 * ```
 */
export class Readiness {
  readonly #libc: Libc;
  readonly #eventFd: number;
  // struct pollfd[2] { int fd; short events, revents }: referenced until every poll settles.
  readonly #pollFds = new Uint8Array(16);
  readonly #counter = new Uint8Array(8);
  #pending: Promise<number> | undefined;

  /**
   * @throws {SystemError} When no eventfd can be created (e.g. `EMFILE`).
   */
  constructor(fd: number) {
    this.#libc = loadLibc();
    this.#eventFd = this.#libc.eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (this.#eventFd < 0) throw systemError("create an eventfd");
    const view = new DataView(this.#pollFds.buffer);
    view.setInt32(0, fd, true);
    view.setInt16(4, POLLIN, true);
    view.setInt32(8, this.#eventFd, true);
    view.setInt16(12, POLLIN, true);
  }

  /** Whether a wait is running. */
  get pending(): boolean {
    return this.#pending !== undefined;
  }

  /**
   * Resolves once `fd` is readable, or has an error condition, or a signal interrupted the
   * `poll`, or {@linkcode Readiness.wake} was called; the caller then checks which.
   *
   * @throws {TypeError} When another wait is pending.
   */
  async wait(): Promise<void> {
    if (this.#pending !== undefined) throw new TypeError("Cannot wait: another wait is pending");
    this.#pending = this.#libc.poll(this.#pollFds, 2n, -1);
    try {
      await this.#pending;
    } finally {
      this.#pending = undefined;
    }
    this.#libc.read(this.#eventFd, this.#counter, 8n); // consume a wake-up, if any
  }

  /** Ends a pending wait, or makes the next one return at once. */
  wake(): void {
    this.#libc.write(this.#eventFd, ONE, 8n);
  }

  /** Closes the eventfd; only when no wait is pending. */
  close(): void {
    this.#libc.close(this.#eventFd);
  }
}
