/**
 * `deno task bench:ring`: sizes spa-server's default capture ring by measurement (issue 15, goal
 * 2). For each ring size, a fresh spa-server (nft) takes the flooder's maximum rate of random
 * payloads, then of forged trailers with the user's UID (the costlier kind: each is verified), for
 * `--seconds` each. Prints, per size, libpcap's drops and the daemon's peak RSS and private dirty
 * memory (knocks under floods are `bench:e2e`'s).
 *
 * ```sh
 * deno task bench:ring                 # rings 2, 4, 6, 8 MiB, 6 s per flood, 3 rounds; writes bench/RESULTS.md
 * deno task bench:ring --sizes 2,4 --seconds 10
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createTopology, netnsSkipReason } from "../harness/topology.ts";
import { startEcho } from "../harness/knocker.ts";
import { type FloodKind, startFlood } from "./e2e/flooder.ts";
import { formatParts, memoryKiB, memoryParts, statusKiB } from "./e2e/proc.ts";
import { SPA_UID, startSpa } from "./e2e/spa_side.ts";
import { sleep } from "./e2e/stats.ts";
import { loadAverage, RESULTS_PATH, writeSection } from "./section.ts";
import { SERVER_DEFAULTS } from "../lib/config/_server_defaults.ts";
import { parseByteSize } from "../lib/config/byte_size.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "2,4,6,8" },
    seconds: { type: "string", default: "6" },
    // V8 settings to try, `;` between variants ("" = as shipped). They come before the shipped
    // `--v8-flags` and V8 keeps the last value of a flag: a variant adds a setting, it cannot undo
    // a shipped one (to compare without one, remove it from SERVER_V8_FLAGS and add it back here).
    v8: { type: "string", default: "" },
    rounds: { type: "string", default: "3" },
    "no-write": { type: "boolean", default: false },
  },
});
const SIZES = values.sizes.split(",").map(Number);
const SECONDS = Number(values.seconds);
const V8_VARIANTS = values.v8.split(";");
const ROUNDS = Number(values.rounds);
const BEGIN = "<!-- ring:begin -->";
const END = "<!-- ring:end -->";

/** One flood against one daemon. */
interface Trial {
  mib: number;
  v8: string;
  dropped: number;
}

async function main(): Promise<number> {
  const skip = await netnsSkipReason();
  if (skip !== undefined) {
    console.error(`bench:ring skipped: ${skip}`);
    return 0;
  }
  await using topo = await createTopology(["server", "client", "flooder"]);
  await startEcho(topo, "server", 22);
  const server = topo.host("server");
  const rows: string[] = [
    "| ring | V8 flags added | round | load | flood | offered | dropped | received | peak RSS, MB | private dirty, MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const trials: Trial[] = [];
  const load = loadAverage();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const mib of SIZES) {
      for (const v8 of V8_VARIANTS) {
        await using spa = await startSpa(topo, server.ipv4, {
          extraConfig: [`capture_buffer = "${mib}MiB"`],
          ...(v8 !== "" ? { runtimeFlags: [`--v8-flags=${v8}`] } : {}),
        });
        await sleep(1_000);
        console.log(`${mib} MiB, after start: ${formatParts(await memoryParts(spa.pid))}`);
        for (const kind of ["random", "forged"] as FloodKind[]) {
          const loadNow = loadAverage().split(" ")[0];
          const before = await spa.drops();
          const flood = startFlood(topo, topo.host("flooder"), server, {
            kind,
            rate: 0,
            seconds: SECONDS,
            port: 62201,
            uid: SPA_UID,
          });
          const result = await flood.done;
          await sleep(1_500); // the daemon writes its status once a second
          const after = await spa.drops();
          const memory = await memoryKiB(spa.pid);
          const dropped = (after?.dropped ?? NaN) - (before?.dropped ?? 0);
          trials.push({ mib, v8, dropped });
          const row = `| ${mib} MiB | ${
            v8 === "" ? "–" : `\`${v8}\``
          } | ${round} | ${loadNow} | ${kind} | ${
            Math.round(result.rate / 1000)
          }k pps | ${dropped} | ${(after?.received ?? NaN) - (before?.received ?? 0)} | ${
            ((await statusKiB(spa.pid, "VmHWM")) / 1024).toFixed(1)
          } | ${(memory.privateDirty / 1024).toFixed(1)} |`;
          console.log(`${row} ${formatParts(await memoryParts(spa.pid))}`);
          rows.push(row);
        }
      }
    }
  }
  const section = render(rows, trials, load);
  console.log(`\n${section}`);
  if (!values["no-write"]) {
    await writeSection("ring", section);
    console.error(`wrote the ring section of ${RESULTS_PATH}`);
  }
  return 0;
}

function render(rows: string[], trials: Trial[], load: string): string {
  const shipped = parseByteSize(SERVER_DEFAULTS.capture_buffer) / (1024 * 1024);
  const asShipped = trials.filter((t) => t.v8 === "");
  const clean = SIZES.filter((mib) =>
    asShipped.filter((t) => t.mib === mib).every((t) => t.dropped === 0)
  );
  const cleanTrials = (mib: number) =>
    asShipped.filter((t) => t.mib === mib && t.dropped === 0).length;
  const perSize = SIZES.map((mib) =>
    `${mib} MiB ${cleanTrials(mib)}/${asShipped.filter((t) => t.mib === mib).length}`
  ).join(", ");
  const smallest = clean[0];
  return [
    BEGIN,
    "",
    "## Capture ring size at the flooder's maximum (`deno task bench:ring`)",
    "",
    `Written by \`deno task bench:ring\` (\`bench/ring.ts\`); ${
      new Date().toISOString().slice(0, 16)
    }Z; load average before ${load}, after ${loadAverage()}; command: \`${
      ["deno task bench:ring", ...Deno.args].join(" ")
    }\`. Per ring size a fresh spa-server (\`deno run server.ts\`, nft,`,
    `shipped flags) takes the flooder's maximum rate of random payloads, then of forged trailers with`,
    `the user's UID, ${SECONDS} s each, ${ROUNDS} rounds; drops are libpcap's; load is the 1-minute`,
    "load average as the flood starts. The ring is a shared packet-socket mapping: the kernel maps",
    "all of it at start, so it counts in RSS whole, not in private dirty.",
    "",
    ...rows,
    "",
    `- floods with 0 drops, per ring size (shipped V8 settings): ${perSize}.`,
    `- ring sizes with 0 drops in every round: ${
      clean.length === 0 ? "none" : clean.map((m) => `${m} MiB`).join(", ")
    }; the default \`capture_buffer\` is ${shipped} MiB${
      smallest === undefined
        ? " (**drops** at every size in this run)"
        : !clean.includes(shipped)
        ? " (**drops** at the default in this run)"
        : `, ${(shipped / smallest).toFixed(1)}× the smallest clean size`
    }. Drops also follow the machine's load: compare rounds, and rerun on a quiet machine.`,
    "",
    END,
  ].join("\n");
}

if (import.meta.main) Deno.exit(await main());
