/**
 * Opens the first loadable library of a candidate list. Used by the loaders in `ffi/` and by bench senders.
 *
 * @module
 */

/**
 * `Deno.dlopen` on each candidate path in turn; returns the first that loads. A permission error
 * (`NotCapable`, `PermissionDenied`) passes through unchanged, since trying other paths cannot fix
 * it. When none loads, throws one error naming `hint` (what to install), with the last failure as
 * `cause`. Never downloads anything.
 *
 * @example
 * ```ts
 * import { dlopenFirst } from "./dlopen.ts";
 * const symbols = { getpid: { parameters: [], result: "i32" } } as const;
 * const candidates = ["libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"];
 * const lib = dlopenFirst("libc", candidates, symbols, "this is not a glibc system");
 * if (lib.symbols.getpid() !== Deno.pid) throw new Error("getpid");
 * lib.close();
 * ```
 */
export function dlopenFirst<S extends Deno.ForeignLibraryInterface>(
  name: string,
  candidates: readonly string[],
  symbols: S,
  hint: string,
): Deno.DynamicLibrary<S> {
  let lastError: unknown;
  for (const path of candidates) {
    try {
      return Deno.dlopen(path, symbols);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw error;
      }
      lastError = error;
    }
  }
  throw new Error(
    `Cannot load ${name}: none of ${candidates.join(", ")} could be opened; ${hint}`,
    { cause: lastError },
  );
}
