/**
 * What the bench reads about processes from `/proc`: CPU time and peak memory.
 *
 * @module
 */

/** The unit of `utime`/`stime` in `/proc/<pid>/stat` (USER_HZ, 100 on Linux). */
export const USER_HZ = 100;

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
