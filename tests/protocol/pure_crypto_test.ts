/**
 * The pure AES-256, SHA-256, HMAC and HKDF that keep `node:crypto` off the knock path give what
 * `node:crypto` (OpenSSL) gives, on known answers and on random inputs of every length used.
 */

import { equal, throws } from "node:assert/strict";
import { createCipheriv, createHash, createHmac, hkdfSync, scryptSync } from "node:crypto";
import { Aes256 } from "../../lib/protocol/aes256.ts";
import { hkdfSha256 } from "../../lib/protocol/hkdf.ts";
import { HmacSha256, sha256 } from "../../lib/protocol/hmac_sha256.ts";
import { scrypt } from "../../lib/protocol/scrypt.ts";
import { encodeHex } from "../../lib/protocol/hex.ts";

const hex = encodeHex;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

Deno.test("AES-256: FIPS-197 C.3, and 300 random keys and blocks against node:crypto", () => {
  const fips = new Aes256(new Uint8Array(32).map((_, i) => i));
  const plain = new Uint8Array(16).map((_, i) => i * 0x11);
  equal(hex(fips.encryptBlock(plain)), "8ea2b7ca516745bfeafc49904b496089");
  for (let i = 0; i < 300; i++) {
    const key = random(32);
    const block = random(16);
    const cipher = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false);
    const expected = new Uint8Array(cipher.update(block));
    const aes = new Aes256(key);
    const sealed = aes.encryptBlock(block);
    equal(hex(sealed), hex(expected), `case ${i}`);
    equal(hex(aes.decryptBlock(sealed)), hex(block), `case ${i} decrypt`);
  }
  throws(() => new Aes256(new Uint8Array(16)), RangeError);
  throws(() => fips.encryptBlock(new Uint8Array(15)), RangeError);
});

Deno.test("SHA-256 and HMAC-SHA256 of every length 0-200 (and long keys) match node:crypto", () => {
  for (let n = 0; n <= 200; n++) {
    const data = random(n);
    equal(hex(sha256(data)), createHash("sha256").update(data).digest("hex"), `sha256 ${n}`);
    const key = random(n % 3 === 0 ? 100 : 32);
    equal(
      hex(new HmacSha256(key).digest(data)),
      createHmac("sha256", key).update(data).digest("hex"),
      `hmac ${n}`,
    );
  }
});

Deno.test("HKDF-SHA256: RFC 5869 case 1, and random inputs against node:crypto", () => {
  const okm = hkdfSha256(
    new Uint8Array(22).fill(0x0b),
    new Uint8Array(13).map((_, i) => i),
    new Uint8Array(10).map((_, i) => 0xf0 + i),
    42,
  );
  equal(
    hex(okm),
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  );
  for (let i = 0; i < 200; i++) {
    const [ikm, salt, info] = [random(32), random(i % 40), random(i % 70)];
    const length = 1 + (i * 7) % 100;
    equal(
      hex(hkdfSha256(ikm, salt, info, length)),
      hex(new Uint8Array(hkdfSync("sha256", ikm, salt, info, length))),
      `case ${i}`,
    );
  }
  throws(() => hkdfSha256(random(32), random(1), random(1), 255 * 32 + 1), RangeError);
});

Deno.test("scrypt: RFC 7914 vectors and random inputs against node:crypto", () => {
  const enc = new TextEncoder();
  equal(
    hex(scrypt(enc.encode("password"), enc.encode("NaCl"), { N: 1024, r: 8, p: 16 }, 64)),
    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
  );
  for (let i = 0; i < 20; i++) {
    const [password, salt] = [random(i * 3), random(i % 17)];
    const params = { N: 2 ** (1 + (i % 8)), r: 1 + (i % 3), p: 1 + (i % 2) };
    const length = 16 + i;
    equal(
      hex(scrypt(password, salt, params, length)),
      hex(new Uint8Array(scryptSync(password, salt, length, params))),
      `case ${i}`,
    );
  }
  throws(() => scrypt(random(1), random(1), { N: 3, r: 1, p: 1 }, 32), RangeError);
});
