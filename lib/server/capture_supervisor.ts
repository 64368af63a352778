/**
 * Keeps one configured interface captured for as long as the daemon runs.
 *
 * An interface can be missing when the daemon starts (a veth a container runtime has not made
 * yet), and can vanish and come back while it runs (a NIC reset, a veth rebuilt). Neither ends
 * the daemon: its firewall table keeps every protected port closed meanwhile, so the only loss is
 * that knocks on that interface go unseen until it is back. Only a capture that cannot work on an
 * interface that is there (no permission, a filter that does not compile, no libpcap) is fatal.
 *
 * States: `capturing` (a live capture is served) ⇄ `waiting` (the interface is missing or down;
 * checked every {@linkcode CAPTURE_RETRY_MS}) → `stopped` (by the daemon, or on a fatal error).
 *
 * @module
 */

import type { Capture } from "../../ffi/pcap.ts";
import { PCAP_ERROR_IFACE_NOT_UP, PCAP_ERROR_NO_SUCH_DEVICE, PcapError } from "../../ffi/pcap.ts";
import type { Logger } from "./log.ts";

/** How often a missing interface is looked for. */
export const CAPTURE_RETRY_MS = 250;

/** The states of a supervised capture. */
export type CaptureState = "capturing" | "waiting" | "stopped";

/** What a supervisor needs from the daemon. */
export interface CaptureSupervisorDeps {
  /** Opens a live capture on the interface. */
  open(name: string): Capture;
  /** Serves a capture until it is closed (resolves) or fails (rejects, e.g. interface gone). */
  serve(capture: Capture): Promise<void>;
  /** Whether the host has an interface of that name now. */
  exists(name: string): boolean;
  /** The capture cannot go on (the supervisor has stopped): the daemon must stop, non-zero. */
  fatal(name: string, error: Error): void;
  log: Logger;
  /** Clock, milliseconds. */
  now(): number;
}

/**
 * Whether an error opening a capture on `name` means "the interface is not there (or not up)
 * yet", as opposed to a capture that cannot work.
 *
 * @example
 * ```ts
 * import { PCAP_ERROR_IFACE_NOT_UP, PCAP_ERROR_NO_SUCH_DEVICE, PcapError } from "../../ffi/pcap.ts";
 * import { isMissingInterface } from "./capture_supervisor.ts";
 * if (!isMissingInterface(new PcapError("Cannot open capture on x: no such device", -5), () => true)) {
 *   throw new Error("expected missing");
 * }
 * ```
 */
export function isMissingInterface(error: unknown, exists: () => boolean): boolean {
  if (!(error instanceof PcapError)) return false;
  return error.status === PCAP_ERROR_NO_SUCH_DEVICE || error.status === PCAP_ERROR_IFACE_NOT_UP ||
    !exists();
}

/**
 * One interface's capture, reopened whenever the interface comes back.
 *
 * @example
 * ```ts
 * import { PCAP_ERROR_NO_SUCH_DEVICE, PcapError } from "../../ffi/pcap.ts";
 * import { CaptureSupervisor } from "./capture_supervisor.ts";
 * import { Logger } from "./log.ts";
 * const supervisor = CaptureSupervisor.start("spa-late0", {
 *   open(name) {
 *     const message = `Cannot open capture on ${name}: no such device`;
 *     throw new PcapError(message, PCAP_ERROR_NO_SUCH_DEVICE);
 *   },
 *   serve: () => Promise.resolve(),
 *   exists: () => false,
 *   fatal: (_name, error) => console.error(error), // throws only on a fatal error
 *   log: new Logger("text", () => {}),
 *   now: () => performance.now(),
 * });
 * if (supervisor.state !== "waiting") throw new Error(supervisor.state); // or "capturing"
 * await supervisor.stop();
 * ```
 */
export class CaptureSupervisor {
  /** The interface name. */
  readonly name: string;
  readonly #deps: CaptureSupervisorDeps;
  #state: CaptureState;
  #capture: Capture | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  #lostAt: number;
  #done: Promise<void> = Promise.resolve();

  private constructor(name: string, deps: CaptureSupervisorDeps, capture: Capture | undefined) {
    this.name = name;
    this.#deps = deps;
    this.#capture = capture;
    this.#state = capture === undefined ? "waiting" : "capturing";
    this.#lostAt = deps.now();
  }

  /**
   * Opens the capture, or, when the interface is missing or down, starts waiting for it (logged
   * as `capture-waiting`).
   *
   * @throws {Error} When the capture cannot work (permission, filter, library): nothing is left
   * running.
   */
  static start(name: string, deps: CaptureSupervisorDeps): CaptureSupervisor {
    let capture: Capture | undefined;
    try {
      capture = deps.open(name);
    } catch (error) {
      if (!isMissingInterface(error, () => deps.exists(name))) throw error;
      deps.log.warn("capture-waiting", {
        interface: name,
        reason: (error as Error).message,
      });
    }
    const supervisor = new CaptureSupervisor(name, deps, capture);
    supervisor.#done = supervisor.#loop();
    return supervisor;
  }

  /** `capturing`, `waiting` or `stopped`. */
  get state(): CaptureState {
    return this.#state;
  }

  /** The live capture, while capturing. */
  get capture(): Capture | undefined {
    return this.#state === "capturing" ? this.#capture : undefined;
  }

  /** Stops capturing (safe to call twice); resolves once the capture is released. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    this.#capture?.close();
    this.#wake?.();
    await this.#done;
  }

  async #loop(): Promise<void> {
    const deps = this.#deps;
    while (!this.#stopped()) {
      let capture = this.#capture;
      if (capture === undefined) {
        await this.#sleep(CAPTURE_RETRY_MS);
        if (this.#stopped() || !deps.exists(this.name)) continue;
        try {
          capture = deps.open(this.name);
        } catch (error) {
          if (isMissingInterface(error, () => deps.exists(this.name))) continue;
          this.#state = "stopped";
          deps.log.error("capture-failed", {
            interface: this.name,
            reason: (error as Error).message,
          });
          deps.fatal(this.name, error as Error);
          return;
        }
        if (this.#stopped()) {
          capture.close();
          return;
        }
        this.#capture = capture;
        this.#state = "capturing";
        deps.log.info("capture-resumed", {
          interface: this.name,
          after_ms: deps.now() - this.#lostAt,
        });
      }
      // libpcap reports a deleted interface on its next read, which an idle or loaded link may
      // not make soon: the interface's presence is checked too, and its loss ends the capture.
      let gone = false;
      const watchdog = setInterval(() => {
        if (deps.exists(this.name)) return;
        gone = true;
        capture.close();
      }, CAPTURE_RETRY_MS);
      try {
        await deps.serve(capture);
        if (this.#stopped()) return;
        const why = gone ? "the interface is gone" : "the capture ended";
        throw new PcapError(`Cannot read packets on ${this.name}: ${why}`, -1);
      } catch (error) {
        capture.close();
        this.#capture = undefined;
        if (this.#stopped()) return;
        this.#state = "waiting";
        this.#lostAt = deps.now();
        deps.log.error("capture-lost", {
          interface: this.name,
          reason: (error as Error).message,
          action: "waiting for the interface; protected ports stay closed",
        });
      } finally {
        clearInterval(watchdog);
      }
    }
  }

  // A method, not a field test: the state changes while the loop awaits.
  #stopped(): boolean {
    return this.#state === "stopped";
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = () => {
        clearTimeout(this.#timer);
        this.#wake = undefined;
        resolve();
      };
      this.#timer = setTimeout(() => this.#wake?.(), ms);
    });
  }
}
