import { deepStrictEqual, equal, notDeepStrictEqual, throws } from "node:assert/strict";
import { secretFromPassphrase } from "../../lib/protocol/passphrase.ts";
import { hex } from "./helpers.ts";

Deno.test("secretFromPassphrase() is scrypt N=2^15 r=8 p=1, salted with the uid", async () => {
  const { scryptSync } = await import("node:crypto");
  const salt = new Uint8Array([...new TextEncoder().encode("spa/1 passphrase "), 0, 0, 0, 3, 232]);
  const expected = scryptSync("correct horse battery staple", salt, 32, {
    N: 2 ** 15,
    r: 8,
    p: 1,
    maxmem: 64 << 20,
  });
  const secret = secretFromPassphrase("correct horse battery staple", 1000);
  equal(hex(secret), expected.toString("hex"));
  deepStrictEqual(secretFromPassphrase("correct horse battery staple", 1000), secret);
  notDeepStrictEqual(secretFromPassphrase("correct horse battery staple", 1001), secret);
});

Deno.test("secretFromPassphrase() refuses short passphrases without echoing them", () => {
  throws(() => secretFromPassphrase("hunter2", 1), (error: Error) => {
    equal(error instanceof RangeError, true);
    equal(error.message.includes("hunter2"), false);
    return true;
  });
});
