/**
 * `packaging/spa-server.service` passes `systemd-analyze verify`, and `systemd-analyze security`
 * rates its exposure. `verify` also checks that ExecStart's program exists, and
 * /usr/local/bin/spa-server is not installed on a test machine: the test verifies a copy whose
 * ExecStart names an existing program instead (`/bin/true`), every other line unchanged, and
 * checks that the original fails only for that reason.
 */

import { equal, match, ok } from "node:assert/strict";
import { ROOT, run } from "./_helpers.ts";

const UNIT = `${ROOT}/packaging/spa-server.service`;
const BINARY = "/usr/local/bin/spa-server";
/** The exposure the unit is known to reach (systemd 252: 2.1), with a little slack. */
const MAX_EXPOSURE = 2.5;

async function systemdAnalyze(): Promise<string | undefined> {
  for (const path of ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]) {
    if (await Deno.stat(path).then(() => true, () => false)) return path;
  }
  return undefined;
}

const analyze = await systemdAnalyze();

Deno.test({
  name: "spa-server.service: systemd-analyze verify and security" +
    (analyze === undefined
      ? " (skipped: systemd-analyze is missing; apt-get install systemd)"
      : ""),
  ignore: analyze === undefined,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "spa-shipping-unit-" });
    const text = await Deno.readTextFile(UNIT);
    const copy = `${dir}/spa-server.service`;
    try {
      await t.step("the unit runs the installed binary with the standard config", () => {
        match(
          text,
          /^ExecStart=\/usr\/local\/bin\/spa-server run --config \/etc\/spa\/server\.toml$/m,
        );
        match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
        match(text, /^CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN$/m);
        match(text, /^StateDirectory=spa$/m);
        ok(!/^MemoryDenyWriteExecute=yes/m.test(text), "V8's JIT needs W+X memory");
      });

      await t.step("verify passes with ExecStart pointing at an existing program", async () => {
        const exec = text.split("\n").filter((line) => line.includes(BINARY));
        equal(exec.length, 1, "only ExecStart names the binary");
        await Deno.writeTextFile(copy, text.replace(BINARY, "/bin/true"));
        const result = await run([analyze!, "verify", copy]);
        equal(result.code, 0, result.stdout + result.stderr);
        equal(result.stderr.trim(), "", "no warnings");
      });

      await t.step("the original fails only because the binary is not installed", async () => {
        if (await Deno.stat(BINARY).then(() => true, () => false)) return;
        const result = await run([analyze!, "verify", UNIT]);
        equal(result.code, 1);
        equal(
          result.stderr.trim(),
          `spa-server.service: Command ${BINARY} is not executable: No such file or directory`,
        );
      });

      await t.step(`security: exposure at most ${MAX_EXPOSURE}`, async () => {
        const result = await run([analyze!, "security", "--offline=true", "--no-pager", copy]);
        const level = /Overall exposure level for spa-server\.service: (\d+\.\d+)/.exec(
          result.stdout,
        );
        if (result.code !== 0 && level === null) {
          console.log(`skipped: systemd-analyze security --offline failed:\n${result.stderr}`);
          return;
        }
        ok(level !== null, result.stdout + result.stderr);
        console.log(`systemd-analyze security: exposure ${level[1]}`);
        ok(Number(level[1]) <= MAX_EXPOSURE, `exposure ${level[1]} > ${MAX_EXPOSURE}`);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
