import { equal, throws } from "node:assert/strict";
import fc from "fast-check";
import { checkByteSize, formatByteSize, parseByteSize } from "../../lib/config/byte_size.ts";
import { checkDuration, formatDuration, parseDuration } from "../../lib/config/duration.ts";

Deno.test("parseDuration reads single units, combinations and decimals", () => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["2s", 2_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1m30s", 90_000],
    ["1h 30m", 5_400_000],
    ["4m 58s", 298_000],
    ["1s500ms", 1_500],
    ["1.5s", 1_500],
    ["0s", 0],
    [" 10m ", 600_000],
  ];
  for (const [text, ms] of cases) equal(parseDuration(text), ms, text);
});

Deno.test("checkDuration says what is wrong", () => {
  equal(checkDuration("30").reason, `"30" has no unit (e.g. "30s")`);
  equal(
    checkDuration("5x").reason,
    `"5x" is not a duration (e.g. "500ms", "30s", "5m", "1h", "1m30s")`,
  );
  equal(
    checkDuration("30s1m").reason,
    `"30s1m" is not a duration: write units once, largest first (e.g. "500ms", "30s", "5m", "1h", "1m30s")`,
  );
  for (const bad of ["", "s", "-1s", "1s1s", "1 h x", "1e3s", "m5"]) {
    equal(typeof checkDuration(bad).reason, "string", bad);
  }
  equal(checkDuration("99999999999999999999h").reason, `"99999999999999999999h" is too long`);
  throws(() => parseDuration("soon"), {
    name: "SyntaxError",
    message: /^Cannot parse duration: "soon" is not a duration/,
  });
});

Deno.test("formatDuration writes the short form of status lines", () => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [750, "750ms"],
    [1_000, "1s"],
    [1_500, "1.5s"],
    [9_999, "9.9s"],
    [10_000, "10s"],
    [298_400, "4m 58s"],
    [3_600_000, "1h"],
    [3_900_000, "1h 5m"],
    [2 * 86_400_000 + 3 * 3_600_000, "2d 3h"],
    [-1_500, "-1.5s"],
  ];
  for (const [ms, text] of cases) equal(formatDuration(ms), text, String(ms));
  throws(() => formatDuration(NaN), RangeError);
});

Deno.test("formatDuration output parses back to within its precision", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 400 * 86_400_000 }), (ms) => {
      const back = parseDuration(formatDuration(ms));
      const precision = ms < 1_000 ? 1 : ms < 10_000 ? 100 : 1_000;
      equal(back <= ms && ms - back < precision, true, `${ms} -> ${formatDuration(ms)} -> ${back}`);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("parseByteSize reads binary units only", () => {
  equal(parseByteSize("32MiB"), 32 * 1024 * 1024);
  equal(parseByteSize("512KiB"), 512 * 1024);
  equal(parseByteSize("1GiB"), 1024 ** 3);
  equal(parseByteSize("4096B"), 4096);
  equal(parseByteSize(" 2 MiB "), 2 * 1024 * 1024);
  equal(
    checkByteSize("32MB").reason,
    `"32MB" is not a size (use B, KiB, MiB or GiB, e.g. "32MiB")`,
  );
  equal(typeof checkByteSize("32").reason, "string");
  equal(typeof checkByteSize("-1KiB").reason, "string");
  equal(formatByteSize(32 * 1024 * 1024), "32MiB");
  equal(formatByteSize(1536), "1536B");
  equal(formatByteSize(2048), "2KiB");
  equal(formatByteSize(0), "0B");
});
