/** lib/posix_path.ts gives node:path's (POSIX) result on every case, including odd ones. */

import { equal } from "node:assert/strict";
import * as node from "node:path";
import { basename, dirname, isAbsolute, join, normalize, resolve } from "../../lib/posix_path.ts";

const SEGMENTS = ["", ".", "..", "a", "b.c", "/", "//", "a/", "/a", "../x", "./y/", "a//b"];
const PATHS = [
  ...SEGMENTS,
  ...SEGMENTS.flatMap((a) => SEGMENTS.map((b) => `${a}/${b}`)),
  ...SEGMENTS.flatMap((a) => SEGMENTS.map((b) => `${a}${b}`)),
  "/etc/spa/keys/alice.key",
  "~/x",
  "/a/b/../../../c",
];

Deno.test("posix_path: normalize, dirname, basename, isAbsolute match node:path", () => {
  for (const p of PATHS) {
    equal(normalize(p), node.posix.normalize(p), `normalize(${JSON.stringify(p)})`);
    equal(dirname(p), node.posix.dirname(p), `dirname(${JSON.stringify(p)})`);
    equal(basename(p), node.posix.basename(p), `basename(${JSON.stringify(p)})`);
    equal(isAbsolute(p), node.posix.isAbsolute(p), `isAbsolute(${JSON.stringify(p)})`);
  }
});

Deno.test("posix_path: join and resolve match node:path", () => {
  for (const a of SEGMENTS) {
    for (const b of SEGMENTS) {
      equal(join(a, b), node.posix.join(a, b), `join(${JSON.stringify([a, b])})`);
      equal(join("/base", a, b), node.posix.join("/base", a, b));
      equal(resolve("/home/u", `${a}${b}`), node.posix.resolve("/home/u", `${a}${b}`));
    }
  }
});
