import { createHmac } from "node:crypto";
import { deepStrictEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import { HmacSha256, MAX_SHORT_MESSAGE } from "../../lib/protocol/hmac_sha256.ts";

Deno.test("HmacSha256.digestInto() equals node:crypto HMAC-SHA256 for any key and short message", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 130 }),
      fc.uint8Array({ minLength: 0, maxLength: 40 }),
      fc.uint8Array({ minLength: 0, maxLength: 15 }),
      (key, message, extra) => {
        const out = new Uint8Array(32);
        new HmacSha256(key).digestInto(message, 0, message.length, extra, out);
        const expected = createHmac("sha256", key).update(message).update(extra).digest();
        deepStrictEqual(out, new Uint8Array(expected));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("HmacSha256.verify128() accepts the true tag and refuses every single-bit change", () => {
  const key = new Uint8Array(32).fill(9);
  const message = new Uint8Array(37).map((_, i) => i * 7);
  const full = createHmac("sha256", key).update(message.subarray(0, 21)).digest();
  message.set(full.subarray(0, 16), 21);
  const mac = new HmacSha256(key);
  equal(mac.verify128(message, 0, 21, undefined, message, 21), true);
  for (let bit = 0; bit < 37 * 8; bit++) {
    const copy = message.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    equal(mac.verify128(copy, 0, 21, undefined, copy, 21), false, `bit ${bit}`);
  }
});

Deno.test("HmacSha256 refuses messages longer than one block", () => {
  const mac = new HmacSha256(new Uint8Array(32));
  let threw = false;
  try {
    mac.digestInto(
      new Uint8Array(MAX_SHORT_MESSAGE + 1),
      0,
      MAX_SHORT_MESSAGE + 1,
      undefined,
      new Uint8Array(32),
    );
  } catch (error) {
    threw = error instanceof RangeError;
  }
  equal(threw, true);
});
