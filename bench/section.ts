/**
 * What every benchmark that records its figures shares: its own section of bench/RESULTS.md
 * between `<!-- name:begin -->` and `<!-- name:end -->` (each benchmark renders the markers as the
 * first and last lines of its section; bench:e2e's table heads the file), and the load average
 * stated beside the figures.
 *
 * @module
 */

import { ROOT } from "../harness/spa_server.ts";

/** Where the benchmarks record their figures. */
export const RESULTS_PATH = `${ROOT}/bench/RESULTS.md`;

/**
 * `text` with the section `name` (markers included) replaced by `section`, or `section` appended
 * when the markers are missing.
 *
 * @example
 * ```ts
 * import { withSection } from "./section.ts";
 * const text = "a\n<!-- x:begin -->\nold\n<!-- x:end -->\nb";
 * const out = withSection(text, "x", "<!-- x:begin -->\nnew\n<!-- x:end -->");
 * if (out !== "a\n<!-- x:begin -->\nnew\n<!-- x:end -->\nb") throw new Error(out);
 * ```
 */
export function withSection(text: string, name: string, section: string): string {
  const endMarker = `<!-- ${name}:end -->`;
  const begin = text.indexOf(`<!-- ${name}:begin -->`);
  const end = text.indexOf(endMarker);
  if (begin < 0 || end < begin) return `${text.trimEnd()}\n\n${section}\n`;
  return `${text.slice(0, begin)}${section}${text.slice(end + endMarker.length)}`;
}

/**
 * Writes `section` as the section `name` of bench/RESULTS.md (created when missing).
 *
 * @example
 * ```ts ignore
 * await writeSection("ring", "<!-- ring:begin -->\n…\n<!-- ring:end -->");
 * ```
 */
export async function writeSection(name: string, section: string): Promise<void> {
  const text = await Deno.readTextFile(RESULTS_PATH).catch(() => "");
  await Deno.writeTextFile(RESULTS_PATH, withSection(text, name, section));
}

/**
 * Writes `head` (bench:e2e's table) as the start of bench/RESULTS.md, followed by the sections the
 * other benchmarks wrote there; whatever else the file held is dropped.
 *
 * @example
 * ```ts ignore
 * await writeHead("# Benchmarks\n…");
 * ```
 */
export async function writeHead(head: string): Promise<void> {
  const previous = await Deno.readTextFile(RESULTS_PATH).catch(() => "");
  const kept = [...previous.matchAll(/<!-- ([\w-]+):begin -->[\s\S]*?<!-- \1:end -->/g)]
    .map((section) => section[0]);
  await Deno.writeTextFile(RESULTS_PATH, [head.trimEnd(), ...kept].join("\n\n") + "\n");
}

/**
 * The 1, 5 and 15 minute load averages (`/proc/loadavg`), or `unknown`.
 *
 * @example
 * ```ts
 * import { loadAverage } from "./section.ts";
 * if (loadAverage() === "") throw new Error("empty");
 * ```
 */
export function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}
