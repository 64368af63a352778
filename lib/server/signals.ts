/**
 * The daemon's signals: SIGTERM and SIGINT stop it, SIGHUP reloads its config.
 *
 * @module
 */

/** What the signals do. */
export interface SignalHandlers {
  /** SIGTERM or SIGINT: stop, naming the signal as the reason. */
  stop(reason: "SIGTERM" | "SIGINT"): void;
  /** SIGHUP: reload the config. */
  reload(): void;
}

/** Installs the handlers; returns a function that removes them (safe to call twice). */
export function installSignals(handlers: SignalHandlers): () => void {
  const signals: [Deno.Signal, () => void][] = [];
  const on = (signal: Deno.Signal, handler: () => void) => {
    Deno.addSignalListener(signal, handler);
    signals.push([signal, handler]);
  };
  on("SIGTERM", () => handlers.stop("SIGTERM"));
  on("SIGINT", () => handlers.stop("SIGINT"));
  on("SIGHUP", () => handlers.reload());
  return () => {
    for (const [signal, handler] of signals.splice(0)) Deno.removeSignalListener(signal, handler);
  };
}
