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
 * ```ts ignore
 * const lib = dlopenFirst("libc", ["/lib/x86_64-linux-gnu/libc.so.6"], { getpid: { parameters: [], result: "i32" } }, "libc6");
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
