/**
 * Turns a run's {@linkcode RunResults} into `bench/RESULTS.md` (one table of figures with
 * spa/fwknop ratios and the issue's targets) and the README summary. Every figure comes from the
 * results; nothing is typed by hand.
 *
 * @module
 */

import type { FloodKind } from "./flooder.ts";
import type { FloodWindow, KnockSample } from "./measure.ts";
import type { ContenderResults, RunResults } from "./results.ts";
import type { MappingShare, MemoryParts } from "./proc.ts";
import { ms, percent, pps, ratio, spread, summarize, type Summary } from "./stats.ts";

/**
 * Targets of issue 7 (spa, on these machines), and issue 15's for the whole knock: knock→open
 * (client start included) ≤ 0.5× fwknop's, the 10 ms and 0.1× being asked of the daemon's share.
 */
export const TARGETS = {
  knockOpenP50Ms: 10,
  knockOpenVsFwknop: 0.1,
  wholeKnockVsFwknop: 0.5,
  idleCpu: 0.01,
  peakRssMB: 60,
  coldStartMs: 150,
} as const;

type Row = [
  figure: string,
  spa: string,
  fwknop: string,
  ratio: string,
  target: string,
  met: string,
];

const verdict = (ok: boolean | undefined) => ok === undefined ? "" : ok ? "pass" : "**miss**";

function pick(
  knocks: readonly KnockSample[],
  variant: string | undefined,
  field: "openMs" | "wireMs" | "clientMs",
): number[] {
  return knocks.filter((k) => variant === undefined || k.variant === variant)
    .map((k) => k[field]).filter((v): v is number => v !== undefined);
}

/** Knock on the wire → port open, per knock, ms. */
function wireToOpen(knocks: readonly KnockSample[], variant?: string): number[] {
  return knocks.filter((k) => variant === undefined || k.variant === variant)
    .flatMap((k) => k.openMs !== undefined && k.wireMs !== undefined ? [k.openMs - k.wireMs] : []);
}

function honoured(knocks: readonly KnockSample[], boundMs: number): number {
  return knocks.filter((k) => k.openMs !== undefined && k.openMs <= boundMs).length;
}

const kindText: Record<FloodKind, string> = {
  plain: "zero payloads",
  random: "random payloads",
  forged: "forged trailers with a valid UID",
};

function floodCell(w: FloodWindow | undefined, boundMs: number): string {
  if (w === undefined) return "–";
  const ok = honoured(w.knocks, boundMs);
  const latency = summarize(
    w.knocks.flatMap((k) => k.openMs !== undefined && k.openMs <= boundMs ? [k.openMs] : []),
  );
  const drops = w.dropped === undefined ? "drops n/a" : `${w.dropped} dropped`;
  const p50 = latency === undefined ? "" : ` · p50 ${ms(latency.p50)} ms`;
  return `${ok}/${w.knocks.length}${p50} · CPU ${percent(w.cpu)} · ${drops}`;
}

/** The table rows. */
function rows(r: RunResults): Row[] {
  const spa = r.contenders.spa;
  const fw = r.contenders.fwknop;
  const out: Row[] = [];
  const fwOpen = summarize(pick(fw?.knocks ?? [], undefined, "openMs"));
  for (const variant of ["syn", "udp"]) {
    const s = summarize(pick(spa?.knocks ?? [], variant, "openMs"));
    const ok = s === undefined || fwOpen === undefined
      ? undefined
      : s.p50 <= TARGETS.knockOpenP50Ms &&
        s.p50 <= TARGETS.knockOpenVsFwknop * fwOpen.p50;
    const wholeOk = s === undefined || fwOpen === undefined
      ? undefined
      : s.p50 <= TARGETS.wholeKnockVsFwknop * fwOpen.p50;
    out.push([
      `knock→open, ms (min / p50 / p90 / max); spa ${variant} knock, fwknop udp knock`,
      spread(s),
      spread(fwOpen),
      ratio(s?.p50, fwOpen?.p50),
      `issue 7: p50 ≤ ${TARGETS.knockOpenP50Ms} ms and ≤ ${TARGETS.knockOpenVsFwknop}× fwknop; ` +
      `issue 15: ≤ ${TARGETS.wholeKnockVsFwknop}× fwknop`,
      `${verdict(ok)}; ${verdict(wholeOk)}`,
    ]);
  }
  const p50 = (values: number[]) => summarize(values)?.p50;
  const perVariant = (c: ContenderResults | undefined, f: (v: string) => number | undefined) =>
    c === undefined
      ? "–"
      : c.name === "spa"
      ? `${ms(f("syn"))} (syn) / ${ms(f("udp"))} (udp)`
      : ms(f("udp"));
  out.push([
    "… of which client start → knock on the wire, p50 ms",
    perVariant(spa, (v) => p50(pick(spa!.knocks, v, "wireMs"))),
    perVariant(fw, () => p50(pick(fw!.knocks, undefined, "wireMs"))),
    "",
    "",
    "",
  ]);
  const fwWire = summarize(wireToOpen(fw?.knocks ?? []));
  for (const variant of ["syn", "udp"]) {
    const s = summarize(wireToOpen(spa?.knocks ?? [], variant));
    const daemonOk = s === undefined || fwWire === undefined
      ? undefined
      : s.p50 <= TARGETS.knockOpenP50Ms && s.p50 <= TARGETS.knockOpenVsFwknop * fwWire.p50;
    out.push([
      `… of which knock on the wire → open, ms (min / p50 / p90 / max); spa ${variant}`,
      spread(s),
      spread(fwWire),
      ratio(s?.p50, fwWire?.p50),
      "the same, for the daemon's share alone",
      verdict(daemonOk),
    ]);
  }
  out.push([
    "client process wall time, p50 ms",
    perVariant(spa, (v) => p50(pick(spa!.knocks, v, "clientMs"))),
    perVariant(fw, () => p50(pick(fw!.knocks, undefined, "clientMs"))),
    ratio(
      p50(pick(spa?.knocks ?? [], "syn", "clientMs")),
      p50(pick(fw?.knocks ?? [], undefined, "clientMs")),
    ),
    "",
    "",
  ]);
  const honouredCell = (c: ContenderResults | undefined) =>
    c === undefined ? "–" : `${honoured(c.knocks, r.honourMs)}/${c.knocks.length}`;
  const recoveryCell = (c: ContenderResults | undefined) => {
    if (c === undefined) return "–";
    const opened = c.recovery.flatMap((k) => k.openMs === undefined ? [] : [k.openMs]);
    return `${opened.length}/${c.recovery.length}, knock→open ${
      opened.map((v) => `${ms(v)} ms`).join(", ") || "–"
    }`;
  };
  out.push([
    `knocks honoured without load (open ≤ ${r.honourMs / 1000} s)`,
    honouredCell(spa),
    honouredCell(fw),
    "",
    "",
    "",
  ]);
  out.push([
    "idle CPU, % of one core",
    percent(spa?.idleCpu),
    percent(fw?.idleCpu),
    ratio(spa?.idleCpu, fw?.idleCpu),
    `≤ ${TARGETS.idleCpu * 100} %`,
    verdict(spa === undefined ? undefined : spa.idleCpu <= TARGETS.idleCpu),
  ]);
  for (const [i, b] of (spa?.background ?? []).entries()) {
    const f = fw?.background[i];
    const drops = (d: number | undefined) => d === undefined ? "drops n/a" : `${d} dropped`;
    out.push([
      `CPU under ${pps(b.rate)} of background UDP without trailers (offered ${pps(b.offered)})`,
      `${percent(b.cpu)} · ${drops(b.dropped)}`,
      f === undefined ? "–" : `${percent(f.cpu)} · ${drops(f.dropped)}`,
      ratio(b.cpu, f?.cpu),
      "",
      "",
    ]);
  }
  for (const [i, w] of (spa?.floods ?? []).entries()) {
    const f = fw?.floods[i];
    const all = w.knocks.length > 0 && honoured(w.knocks, r.honourMs) === w.knocks.length;
    const firstSend = w.knocks.every((k) => k.attempts === 1);
    const rate = w.rate === 0
      ? `the flooder's max (offered ${pps(w.offered)} / ${pps(f?.offered)})`
      : `${pps(w.rate)} (offered ${pps(w.offered)} / ${pps(f?.offered)})`;
    out.push([
      `knocks honoured ≤ ${r.honourMs / 1000} s under a junk flood of ${kindText[w.kind]}, ${rate}`,
      floodCell(w, r.honourMs),
      floodCell(f, r.honourMs),
      ratio(w.cpu, f?.cpu) === "–" ? "" : `CPU ${ratio(w.cpu, f?.cpu)}`,
      "100 % honoured, each on its first packet",
      verdict(all && firstSend),
    ]);
  }
  out.push([
    `knocks honoured 2 s after the last flood (open ≤ ${r.recoveryMs / 1000} s)`,
    recoveryCell(spa),
    recoveryCell(fw),
    "",
    "",
    "",
  ]);
  out.push([
    "daemon RSS growth over the unloaded knock series (VmRSS), kB per knock",
    spa === undefined ? "–" : spa.rssGrowthPerKnockKB.toFixed(0),
    fw === undefined ? "–" : fw.rssGrowthPerKnockKB.toFixed(0),
    "",
    "",
    "",
  ]);
  const rss = (c: ContenderResults) =>
    `${c.peakRssMB.toFixed(1)} (after start ${c.startRssMB.toFixed(1)}; capture ring ${
      c.ringMB.toFixed(1)
    }; private dirty at the end ${c.privateDirtyMB.toFixed(1)}; at the end, RSS / private dirty: ${
      partsText(c.parts)
    })`;
  out.push([
    "peak RSS of the daemon (VmHWM), MB",
    spa === undefined ? "–" : `${rss(spa)}; Deno runtime alone: ${r.denoRuntimeMB.toFixed(1)}`,
    fw === undefined ? "–" : rss(fw),
    ratio(spa?.peakRssMB, fw?.peakRssMB),
    `≤ ${TARGETS.peakRssMB} MB`,
    verdict(spa === undefined ? undefined : spa.peakRssMB <= TARGETS.peakRssMB),
  ]);
  out.push([
    "client cold start (`--version`, median of 10), ms",
    ms(r.spaColdStartMs),
    ms(r.fwknopColdStartMs),
    ratio(r.spaColdStartMs, r.fwknopColdStartMs),
    `≤ ${TARGETS.coldStartMs} ms`,
    verdict(r.spaColdStartMs <= TARGETS.coldStartMs),
  ]);
  return out;
}

function table(body: Row[]): string {
  const header: Row = ["figure", "spa", "fwknop", "spa ÷ fwknop", "target (spa)", "met"];
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

function gapNote(r: RunResults): string {
  const all = Object.values(r.contenders).flatMap((c) => c?.knocks ?? []);
  const medians: Summary | undefined = summarize(all.map((k) => k.gaps.p50Ms));
  if (medians === undefined) return "";
  const count = all.reduce((a, k) => a + k.gaps.count, 0);
  const over = all.reduce((a, k) => a + k.gaps.over1Ms, 0);
  const max = all.reduce((a, k) => Math.max(a, k.gaps.maxMs), 0);
  return `gap between two connects: median ${ms(medians.p50)} ms, ${
    percent(count > 0 ? over / count : undefined)
  } of ${count} gaps over 1 ms, largest ${ms(max)} ms`;
}

/**
 * The whole `bench/RESULTS.md`.
 *
 * @example
 * ```ts ignore
 * await Deno.writeTextFile("bench/RESULTS.md", renderResults(results));
 * ```
 */
export function renderResults(r: RunResults): string {
  const m = r.machine;
  const warm = Object.values(r.contenders).map((c) => `${c!.name} ${c!.warmupKnocks}`).join(", ");
  const resends = (r.contenders.spa?.knocks ?? []).filter((k) => (k.attempts ?? 1) > 1).length;
  const failures = Object.values(r.contenders).flatMap((c) =>
    (c?.knocks ?? []).flatMap((k) => k.failure === undefined ? [] : [`${c!.name}: ${k.failure}`])
  );
  return [
    "# spa against fwknop: end-to-end benchmark",
    "",
    "Written by `deno task bench:e2e` (`bench/e2e.ts`); do not edit by hand.",
    "",
    `- date: ${m.date}`,
    `- machine: ${m.cores} cores, ${m.cpu}, Linux ${m.kernel}`,
    `- software: Deno ${m.deno}, ${m.fwknop}, ${m.libpcap}`,
    `- command: \`${r.command}\`${r.quick ? " (quick run)" : ""}`,
    "",
    table(rows(r)),
    "",
    "How it was measured:",
    "",
    "- Namespaces `server`, `client` and `flooder` on one bridge. The protected service is a TCP " +
    "listener on port 22 in `server`. spa runs first, then fwknop, never both at once.",
    "- spa: `spa-server run` and `spa-client` with the shipped permission flags; nft firewall; " +
    `spa-server from ${
      r.serverBuild === "bundle"
        ? "the `deno bundle` build of server.ts that `deno task compile` embeds, run by `deno run` (a compiled binary's runtime, `denort`, is not measured here; `--server run`: `deno run server.ts`)"
        : "`deno run server.ts`, as the tests run it (the default, `--server bundle`, runs the build `deno task compile` embeds)"
    }, spa-client with \`deno run client.ts\`; ` +
    "idle timeout 2 s. fwknop: `fwknopd -f` with its own config and access files in a temp folder, " +
    "HMAC + Rijndael keys from `fwknop --key-gen`, `OPEN_PORTS tcp/22`, `PCAP_INTF eth0`, every " +
    "other setting at its default (`PCAP_FILTER udp port 62201`, `PCAP_DISPATCH_COUNT 100`, " +
    "`PCAP_LOOP_SLEEP` 100 ms); the bench adds the deny rule (`iptables -A INPUT -p tcp --dport 22 " +
    "-j DROP`) it relies on.",
    "- knock→open: one prober process in `client` starts the client itself and, from just before, " +
    "starts a fresh non-blocking connect every 0.5 ms until one completes (" + gapNote(r) + "). " +
    "It also timestamps the knock packet leaving the client's eth0 (libpcap), which splits the " +
    "figure into client start → wire and wire → open. " +
    `${r.knocksPerVariant} knocks per transport, after unmeasured warm-up knocks (${warm}).`,
    "- Every knock starts from closed: after each, the bench removes the grant (spa: `nft flush set " +
    "inet spa grants4`, then waits for the daemon's own `close` line; fwknop: `iptables -F " +
    "FWKNOP_INPUT`) and checks the port is closed before the next. fwknop knocks ask for a rotating " +
    "client address (`-a`), so a knock fwknopd honours late can never pass for a later one.",
    "- Floods come from `bench/flood.ts` (AF_PACKET, 100-byte IP packets to the server's MAC, to " +
    'udp/62201, which both daemons capture); "offered" is what the flooder\'s eth0 sent (spa phase ' +
    "/ fwknop phase). Background traffic goes to udp/9, which fwknopd's default filter drops in the " +
    `kernel. Knocks under flood alternate spa's transports; one honoured = port open ≤ ${
      r.honourMs / 1000
    } s. fwknop has no UID: for it the forged-trailer flood is random payloads like the other.`,
    "- CPU: utime + stime of the daemon from /proc/<pid>/stat over the window (" +
    `${r.idleSeconds} s idle). Drops: spa's libpcap counters (\`spa-server status\`' capture ` +
    "stats); fwknopd reports none (n/a).",
    `- spa knocks that needed a resend (ack not received in time): ${resends}.`,
    ...(failures.length > 0 ? [`- client failures: ${failures.join("; ")}`] : []),
    ...(r.profileDir !== undefined ? [`- spa-server CPU profile: ${r.profileDir}`] : []),
    "",
  ].join("\n");
}

/**
 * The few lines the README's performance section shows.
 *
 * @example
 * ```ts ignore
 * const summary = renderSummary(results);
 * ```
 */
export function renderSummary(r: RunResults): string {
  const spa = r.contenders.spa;
  const fw = r.contenders.fwknop;
  const p50 = (c: ContenderResults | undefined, v?: string) =>
    summarize(pick(c?.knocks ?? [], v, "openMs"))?.p50;
  const wire = (c: ContenderResults | undefined, v?: string) =>
    summarize(wireToOpen(c?.knocks ?? [], v))?.p50;
  const heaviest = (c: ContenderResults | undefined) => {
    const ws = c?.floods ?? [];
    const max = ws.filter((w) => w.rate === 0);
    const n = max.reduce((a, w) => a + honoured(w.knocks, r.honourMs), 0);
    const total = max.reduce((a, w) => a + w.knocks.length, 0);
    const offered = Math.min(...max.map((w) => w.offered));
    return `${n}/${total} at ≥ ${pps(offered)}`;
  };
  const at100k = (c: ContenderResults | undefined) => {
    const ws = (c?.floods ?? []).filter((w) => w.rate === 100_000);
    const n = ws.reduce((a, w) => a + honoured(w.knocks, r.honourMs), 0);
    return `${n}/${ws.reduce((a, w) => a + w.knocks.length, 0)}`;
  };
  return [
    `Measured by \`${r.command}\` on ${r.machine.date.slice(0, 10)} (${r.machine.cores} cores, ` +
    `Linux ${r.machine.kernel}, Deno ${r.machine.deno}, ${r.machine.fwknop}); full table in ` +
    "[bench/RESULTS.md](bench/RESULTS.md).",
    "",
    `| | spa | fwknop |`,
    `| --- | --- | --- |`,
    `| knock→open p50 (client start → port open) | ${ms(p50(spa, "syn"))} ms syn, ${
      ms(p50(spa, "udp"))
    } ms udp | ${ms(p50(fw))} ms |`,
    `| … of which knock on the wire → open, p50 | ${ms(wire(spa, "syn"))} ms syn, ${
      ms(wire(spa, "udp"))
    } ms udp | ${ms(wire(fw))} ms |`,
    `| valid knocks honoured under 100k pps junk | ${at100k(spa)} | ${at100k(fw)} |`,
    `| … under the flooder's max rate | ${heaviest(spa)} | ${heaviest(fw)} |`,
    `| idle CPU | ${percent(spa?.idleCpu)} | ${percent(fw?.idleCpu)} |`,
    `| peak RSS | ${spa?.peakRssMB.toFixed(0) ?? "–"} MB (private dirty at the end ${
      spa?.privateDirtyMB.toFixed(0) ?? "–"
    } MB; Deno alone ${r.denoRuntimeMB.toFixed(0)} MB) | ${fw?.peakRssMB.toFixed(1) ?? "–"} MB |`,
    `| client cold start | ${ms(r.spaColdStartMs)} ms | ${ms(r.fwknopColdStartMs)} ms |`,
  ].join("\n");
}

/**
 * Formats markdown the way `deno fmt` does with the repository's settings (so `deno task check`
 * stays clean after the README is updated).
 *
 * @example
 * ```ts ignore
 * const text = await formatMarkdown("| a | bb |\n| --- | --- |\n| x | y |\n", ROOT);
 * ```
 */
export async function formatMarkdown(text: string, cwd: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`Cannot format markdown: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return new TextDecoder().decode(out.stdout);
}

const BEGIN = /<!-- bench:begin[^>]*-->/;
const END = "<!-- bench:end -->";

/**
 * Replaces what lies between the README's `<!-- bench:begin ... -->` and `<!-- bench:end -->`
 * markers (the markers stay).
 *
 * @throws {Error} When the markers are missing.
 * @example
 * ```ts
 * import { replaceBetweenMarkers } from "./report.ts";
 * const text = "a\n<!-- bench:begin x -->\nold\n<!-- bench:end -->\nb";
 * const out = replaceBetweenMarkers(text, "new");
 * if (out !== "a\n<!-- bench:begin x -->\n\nnew\n\n<!-- bench:end -->\nb") throw new Error(out);
 * ```
 */
export function replaceBetweenMarkers(text: string, content: string): string {
  const begin = BEGIN.exec(text);
  const end = text.indexOf(END);
  if (begin === null || end < begin.index) {
    throw new Error("Cannot update the README: the bench:begin/bench:end markers are missing");
  }
  const head = text.slice(0, begin.index + begin[0].length);
  return `${head}\n\n${content}\n\n${text.slice(end)}`;
}

/** What a daemon's RSS is made of (see `memoryParts` in `proc.ts`), RSS / private dirty in MB. */
function partsText(p: MemoryParts): string {
  const cell = (s: MappingShare) =>
    `${(s.rss / 1024).toFixed(1)} / ${(s.privateDirty / 1024).toFixed(1)}`;
  return `program file ${cell(p.binary)}, libraries ${cell(p.libraries)}, capture ring ${
    cell(p.ring)
  }, malloc ${
    cell({
      rss: p.heap.rss + p.arenas.rss,
      privateDirty: p.heap.privateDirty + p.arenas.privateDirty,
    })
  }, other anonymous (V8 heap, stacks) ${cell(p.anonymous)}`;
}
