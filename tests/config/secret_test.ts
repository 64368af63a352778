import { equal, ok } from "node:assert/strict";
import { MODULE_FLAGS } from "../../lib/permissions.ts";
import { Secret, SLAB_CELLS, slabUsage } from "../../lib/config/secret.ts";

Deno.test("secrets in shared slabs keep their own bytes; wipe zeroes only its own", () => {
  const secrets = Array.from(
    { length: SLAB_CELLS + 10 },
    (_, i) => new Secret(new Uint8Array(32).fill(i % 251).fill(7, 0, 1)),
  );
  secrets[1]!.wipe();
  for (const [i, secret] of secrets.entries()) {
    const bytes = secret.bytes();
    if (i === 1) ok(bytes.every((b) => b === 0));
    else ok(bytes[0] === 7 && bytes.slice(1).every((b) => b === i % 251), `secret ${i}`);
  }
  ok(secrets[5]!.equals(new Secret(secrets[5]!.bytes())));
  ok(!secrets[5]!.equals(secrets[6]!));
});

Deno.test("a collected secret's cell is zeroed and used again (memory stays bounded)", async () => {
  // Its own process: collecting on demand needs V8's --expose-gc.
  const script = `
    import { Secret, slabUsage } from ${
    JSON.stringify(import.meta.resolve("../../lib/config/secret.ts"))
  };
    const make = () => { for (let i = 0; i < 5000; i++) new Secret(new Uint8Array(32).fill(9)); };
    make();
    const before = slabUsage().cells;
    for (let round = 0; round < 5; round++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 20)); // finalizers run as tasks
      if (round === 0) console.log(JSON.stringify(slabUsage()));
      make();
    }
    console.log(JSON.stringify({ before, after: slabUsage().cells }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", ...MODULE_FLAGS, "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const [afterGc, growth] = text.trim().split("\n").map((line) => JSON.parse(line));
  ok(afterGc.free > 4000, `cells freed by the collection: ${afterGc.free}`);
  equal(afterGc.freeZeroed, true);
  ok(growth.after < growth.before * 2, `cells after 5 more rounds: ${JSON.stringify(growth)}`);
  ok(slabUsage().cells >= 0);
});
