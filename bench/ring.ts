/**
 * `deno task bench:ring`: sizes spa-server's default capture ring by measurement (issue 15, goal
 * 2). For each ring size, a fresh spa-server (nft) takes the flooder's maximum rate of random
 * payloads, then of forged trailers with the user's UID (the costlier kind: each is verified), for
 * `--seconds` each. Prints, per size, libpcap's drops and the daemon's peak RSS and private dirty
 * memory (knocks under floods are `bench:e2e`'s).
 *
 * ```sh
 * deno task bench:ring                 # rings 1, 2, 4, 8 MiB, 6 s per flood
 * deno task bench:ring --sizes 2,4 --seconds 10
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createTopology, netnsSkipReason } from "../tests/netns/topology.ts";
import { startEcho } from "../tests/netns/knocker.ts";
import { type FloodKind, startFlood } from "./e2e/flooder.ts";
import { formatParts, memoryKiB, memoryParts, statusKiB } from "./e2e/proc.ts";
import { SPA_UID, startSpa } from "./e2e/spa_side.ts";
import { sleep } from "./e2e/stats.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "1,2,4,8" },
    seconds: { type: "string", default: "6" },
    // V8 settings to try on top of the shipped ones, `;` between variants ("" = as shipped).
    v8: { type: "string", default: "" },
  },
});
const SIZES = values.sizes.split(",").map(Number);
const SECONDS = Number(values.seconds);
const V8_VARIANTS = values.v8.split(";");

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
    "| ring | V8 flags added | flood | offered | dropped | received | peak RSS, MB | private dirty, MB |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const mib of SIZES) {
    for (const v8 of V8_VARIANTS) {
      await using spa = await startSpa(topo, server.ipv4, {
        extraConfig: [`capture_buffer = "${mib}MiB"`],
        ...(v8 !== "" ? { runtimeFlags: [`--v8-flags=${v8}`] } : {}),
      });
      await sleep(1_000);
      console.log(`${mib} MiB, after start: ${formatParts(await memoryParts(spa.pid))}`);
      for (const kind of ["random", "forged"] as FloodKind[]) {
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
        const row = `| ${mib} MiB | ${v8 === "" ? "–" : `\`${v8}\``} | ${kind} | ${
          Math.round(result.rate / 1000)
        }k pps | ${(after?.dropped ?? NaN) - (before?.dropped ?? 0)} | ${
          (after?.received ?? NaN) - (before?.received ?? 0)
        } | ${((await statusKiB(spa.pid, "VmHWM")) / 1024).toFixed(1)} | ${
          (memory.privateDirty / 1024).toFixed(1)
        } |`;
        console.log(`${row} ${formatParts(await memoryParts(spa.pid))}`);
        rows.push(row);
      }
    }
  }
  console.log(`\n${rows.join("\n")}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
