import { equal, ok } from "node:assert/strict";
import { MODULE_FLAGS, SERVER_V8_FLAGS } from "../../lib/permissions.ts";
import { releaseHeap } from "../../lib/server/release_heap.ts";

const MODULE = new URL("../../lib/server/release_heap.ts", import.meta.url).href;

Deno.test("releaseHeap: nothing without --expose-gc (a daemon inside a test process)", () => {
  equal(releaseHeap("major"), undefined);
});

Deno.test("releaseHeap: the daemon's V8 flags let it run a full collection", async () => {
  const script = `import { releaseHeap } from ${JSON.stringify(MODULE)};\n` +
    `console.log(JSON.stringify([releaseHeap("major"), releaseHeap("shrink")]));\n`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...MODULE_FLAGS, `--v8-flags=${SERVER_V8_FLAGS.join(",")}`, script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const ms = JSON.parse(new TextDecoder().decode(out.stdout)) as unknown[];
  ok(ms.every((x) => typeof x === "number" && x >= 0), `expected durations, got ${ms}`);
});
