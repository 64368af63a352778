import { equal, ok } from "node:assert/strict";
import { MODULE_FLAGS } from "../../lib/permissions.ts";

Deno.test("decodeFrame() allocates nothing per frame (no GC during 5 million decodes)", async () => {
  const probe = new URL("./_gc_probe.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...MODULE_FLAGS,
      "--allow-read",
      "--v8-flags=--trace-gc",
      probe.pathname,
      "5000000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  ok(out.success, new TextDecoder().decode(out.stderr));
  const lines = stdout.split("\n");
  const start = lines.indexOf("probe-start");
  const end = lines.indexOf("probe-end");
  ok(start >= 0 && end > start, stdout);
  // --trace-gc prints a line per collection (Scavenge, Mark-Compact, ...).
  const collections = lines.slice(start + 1, end);
  equal(collections.length, 0, collections.join("\n"));
  ok(lines.some((l) => l.startsWith("decoded 5000000")));
});
