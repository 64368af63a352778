/**
 * What the bench reads about processes from `/proc` (CPU time and peak memory) and from their
 * output (its lines).
 *
 * @module
 */

/**
 * The lines of a child's stdout or stderr (or of stdin) as they come, the last one even without
 * its newline.
 *
 * @example
 * ```ts
 * import { lines } from "./proc.ts";
 * const out: string[] = [];
 * for await (const line of lines(ReadableStream.from([new TextEncoder().encode("a\nb")]))) {
 *   out.push(line);
 * }
 * if (out.join(",") !== "a,b") throw new Error(out.join(","));
 * ```
 */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      yield buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer !== "") yield buffer;
}

/** The unit of `utime`/`stime` in `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
export const USER_HZ = 100;

/**
 * Sends `signal` (none for a child that ends by itself, e.g. on closed stdin), SIGKILL after
 * `graceMs`, and waits for the child to exit.
 *
 * @example
 * ```ts ignore
 * await stopChild(child, "SIGTERM", 10_000);
 * ```
 */
export async function stopChild(
  child: Deno.ChildProcess,
  signal: Deno.Signal | undefined,
  graceMs: number,
): Promise<void> {
  const kill = (s: Deno.Signal) => {
    try {
      child.kill(s);
    } catch { /* gone */ }
  };
  if (signal !== undefined) kill(signal);
  const timer = setTimeout(() => kill("SIGKILL"), graceMs);
  await child.status;
  clearTimeout(timer);
}

/**
 * CPU seconds (user + system, all threads) a process has used so far.
 *
 * @throws {Deno.errors.NotFound} When the process is gone.
 * @example
 * ```ts ignore
 * const before = await cpuSeconds(pid);
 * ```
 */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime) are the 12th and 13th after the name.
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}

/**
 * A field of `/proc/<pid>/status` in kB (e.g. `VmHWM`, the peak resident set, or `VmRSS`).
 *
 * @example
 * ```ts ignore
 * const peakKiB = await statusKiB(pid, "VmHWM");
 * ```
 */
export async function statusKiB(pid: number, field: "VmHWM" | "VmRSS"): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (match === null) throw new Error(`Cannot read ${field} of process ${pid}`);
  return Number(match[1]);
}

/** CPU use of a process over a window, as a fraction of one core. */
export class CpuWindow {
  readonly #pid: number;
  #cpu = 0;
  #at = 0;

  private constructor(pid: number) {
    this.#pid = pid;
  }

  /**
   * Starts a window now.
   *
   * @example
   * ```ts ignore
   * const window = await CpuWindow.start(pid);
   * await sleep(10_000);
   * const share = await window.end(); // e.g. 0.004 for 0.4 % of a core
   * ```
   */
  static async start(pid: number): Promise<CpuWindow> {
    const w = new CpuWindow(pid);
    w.#cpu = await cpuSeconds(pid);
    w.#at = performance.now();
    return w;
  }

  /** The fraction of one core used since the start. */
  async end(): Promise<number> {
    const cpu = await cpuSeconds(this.#pid);
    const seconds = (performance.now() - this.#at) / 1000;
    return seconds > 0 ? (cpu - this.#cpu) / seconds : 0;
  }
}

/**
 * Resident kB of a process's packet-socket mappings (libpcap's capture rings), from
 * `/proc/<pid>/smaps`.
 *
 * @example
 * ```ts ignore
 * const ringKiB = await socketMappingKiB(pid);
 * ```
 */
export async function socketMappingKiB(pid: number): Promise<number> {
  const smaps = await Deno.readTextFile(`/proc/${pid}/smaps`);
  let inSocket = false;
  let total = 0;
  for (const line of smaps.split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inSocket = /\ssocket:\[\d+\]$/.test(line);
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (inSocket && rss !== null) total += Number(rss[1]);
  }
  return total;
}

/**
 * Resident and private dirty memory of a process in kB, from `/proc/<pid>/smaps_rollup`: private
 * dirty is what the process alone costs the machine (most of the Deno binary's resident pages are
 * shared and clean).
 *
 * @example
 * ```ts ignore
 * const { rss, privateDirty } = await memoryKiB(pid);
 * ```
 */
export async function memoryKiB(pid: number): Promise<{ rss: number; privateDirty: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps_rollup`);
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text);
    if (match === null) throw new Error(`Cannot read ${name} of process ${pid}`);
    return Number(match[1]);
  };
  return { rss: field("Rss"), privateDirty: field("Private_Dirty") };
}

/** Resident and private dirty kB of one kind of mapping. */
export interface MappingShare {
  rss: number;
  privateDirty: number;
}

/** What a process's resident memory is made of, by kind of mapping (see {@linkcode memoryParts}). */
export interface MemoryParts {
  /** The executable's own file pages (the Deno binary: code and read-only data, mostly shared). */
  binary: MappingShare;
  /** Other file mappings (shared libraries: libc, libpcap, ...). */
  libraries: MappingShare;
  /** Packet-socket mappings (libpcap's capture rings). */
  ring: MappingShare;
  /** The main malloc arena (`[heap]`). */
  heap: MappingShare;
  /** Anonymous mappings: V8's heap, other malloc arenas, thread stacks, large allocations. */
  anonymous: MappingShare;
  /** Anonymous mappings inside 64 MiB-aligned reservations of 64 MiB: glibc's per-thread arenas. */
  arenas: MappingShare;
  /** Everything else (`[stack]`, `[vdso]`, ...). */
  other: MappingShare;
  /** Threads of the process (`/proc/<pid>/status`). */
  threads: number;
}

const ARENA_BYTES = 64 * 1024 * 1024;

/**
 * A process's resident memory by kind of mapping, from `/proc/<pid>/smaps`: what RSS is made of.
 *
 * glibc gives a thread that contends for malloc its own arena: a 64 MiB-aligned 64 MiB reservation,
 * of which the used part is read-write; they are told apart from other anonymous memory by that
 * alignment and size (an anonymous read-write mapping at a 64 MiB boundary followed by its
 * `---p` rest, together 64 MiB).
 *
 * @example
 * ```ts ignore
 * const parts = await memoryParts(pid);
 * console.log(parts.binary.rss, parts.arenas.rss, parts.threads);
 * ```
 */
export async function memoryParts(pid: number): Promise<MemoryParts> {
  const [smaps, status, exe] = await Promise.all([
    Deno.readTextFile(`/proc/${pid}/smaps`),
    Deno.readTextFile(`/proc/${pid}/status`),
    Deno.readLink(`/proc/${pid}/exe`).catch(() => ""),
  ]);
  const zero = (): MappingShare => ({ rss: 0, privateDirty: 0 });
  const parts: MemoryParts = {
    binary: zero(),
    libraries: zero(),
    ring: zero(),
    heap: zero(),
    anonymous: zero(),
    arenas: zero(),
    other: zero(),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
  interface Mapping {
    start: number;
    end: number;
    perms: string;
    name: string;
    rss: number;
    privateDirty: number;
  }
  const mappings: Mapping[] = [];
  for (const line of smaps.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head !== null) {
      mappings.push({
        start: parseInt(head[1]!, 16),
        end: parseInt(head[2]!, 16),
        perms: head[3]!,
        name: head[4]!,
        rss: 0,
        privateDirty: 0,
      });
      continue;
    }
    const m = mappings.at(-1);
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (m !== undefined && rss !== null) m.rss = Number(rss[1]);
    const dirty = /^Private_Dirty:\s+(\d+) kB/.exec(line);
    if (m !== undefined && dirty !== null) m.privateDirty = Number(dirty[1]);
  }
  const arenaStarts = new Set<number>();
  for (let i = 0; i < mappings.length; i++) {
    const m = mappings[i]!;
    const next = mappings[i + 1];
    if (m.name !== "" || m.start % ARENA_BYTES !== 0 || !m.perms.startsWith("rw")) continue;
    const whole = next !== undefined && next.name === "" && next.start === m.end &&
        next.perms.startsWith("---")
      ? next.end - m.start
      : m.end - m.start;
    if (whole === ARENA_BYTES) arenaStarts.add(m.start);
  }
  for (const m of mappings) {
    const add = (share: MappingShare) => {
      share.rss += m.rss;
      share.privateDirty += m.privateDirty;
    };
    if (exe !== "" && m.name === exe) add(parts.binary);
    else if (m.name.startsWith("/")) add(parts.libraries);
    else if (/^socket:\[\d+\]$/.test(m.name)) add(parts.ring);
    else if (m.name === "[heap]") add(parts.heap);
    else if (m.name === "" && arenaStarts.has(m.start)) add(parts.arenas);
    else if (m.name === "") add(parts.anonymous);
    else add(parts.other);
  }
  return parts;
}

/**
 * {@linkcode MemoryParts} as one line of MB figures (RSS / private dirty per part).
 *
 * @example
 * ```ts ignore
 * console.log(formatParts(await memoryParts(pid)));
 * ```
 */
export function formatParts(parts: MemoryParts): string {
  const mb = (kib: number) => (kib / 1024).toFixed(1);
  const names = ["binary", "libraries", "ring", "heap", "arenas", "anonymous", "other"] as const;
  return names.map((n) => `${n} ${mb(parts[n].rss)}/${mb(parts[n].privateDirty)}`).join(", ") +
    `; ${parts.threads} threads`;
}
