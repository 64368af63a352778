/** Helpers shared by the `ffi/` tests. */

import { ok } from "node:assert/strict";

/** Runs `fn`, asserts it throws an instance of `type`, and returns the error. */
export function catchError<T extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  type: new (...args: any[]) => T,
): T {
  try {
    fn();
  } catch (error) {
    ok(error instanceof type, `expected ${type.name}, got ${error}`);
    return error;
  }
  throw new Error(`expected ${type.name} to be thrown`);
}

/** The names of this process's open file descriptors. */
export function openFds(): string[] {
  return [...Deno.readDirSync("/proc/self/fd")].map((entry) => entry.name).sort();
}

const CLONE_NEWNET = 0x40000000;
const O_RDONLY_CLOEXEC = 0o2000000;
let netnsLibc:
  | Deno.DynamicLibrary<{
    open: { parameters: ["buffer", "i32"]; result: "i32" };
    setns: { parameters: ["i32", "i32"]; result: "i32" };
    close: { parameters: ["i32"]; result: "i32" };
  }>["symbols"]
  | undefined;

/**
 * Runs `fn` with the calling (main) thread inside the network namespace `ns`, then switches back.
 * Sockets keep the namespace they were created in, so a `Capture` or `RawSocket` opened in `fn`
 * lives in `ns` while this test process stays where it is. Needs root.
 */
export function inNamespace<T>(ns: string, fn: () => T): T {
  netnsLibc ??= Deno.dlopen(
    "libc.so.6",
    {
      open: { parameters: ["buffer", "i32"], result: "i32" },
      setns: { parameters: ["i32", "i32"], result: "i32" },
      close: { parameters: ["i32"], result: "i32" },
    } as const,
  ).symbols;
  const c = netnsLibc;
  const open = (path: string) => {
    const fd = c.open(new TextEncoder().encode(`${path}\0`), O_RDONLY_CLOEXEC);
    if (fd < 0) throw new Error(`Cannot open ${path}`);
    return fd;
  };
  const home = open("/proc/thread-self/ns/net");
  const target = open(`/run/netns/${ns}`);
  const entered = c.setns(target, CLONE_NEWNET) === 0;
  c.close(target);
  let result: { value: T } | { error: unknown } = { error: new Error(`Cannot enter ${ns}`) };
  if (entered) {
    try {
      result = { value: fn() };
    } catch (error) {
      result = { error };
    }
  }
  const returned = c.setns(home, CLONE_NEWNET) === 0;
  c.close(home);
  if (!returned) throw new Error("Cannot return to the original network namespace");
  if ("error" in result) throw result.error;
  return result.value;
}

/** CPU time (user + system) this process has used, in seconds, from /proc/self/stat. */
export function processCpuSeconds(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks
}
