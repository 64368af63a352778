/**
 * `.github/workflows/release.yml` parses as YAML (with PyYAML when a python3 has it) and does what
 * a release needs: on a tag `v*`, install the Deno version CI uses, `deno task check`,
 * `deno task compile`, and attach both binaries for every target and `SHA256SUMS` to the release.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { TARGETS } from "../../scripts/compile.ts";
import { ROOT, run } from "./_helpers.ts";

const WORKFLOW = `${ROOT}/.github/workflows/release.yml`;

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}

/** A python3 that can `import yaml`, or undefined. */
async function pythonWithYaml(): Promise<string | undefined> {
  for (const python of ["python3", "/usr/bin/python3"]) {
    try {
      const result = await run([python, "-c", "import yaml"]);
      if (result.code === 0) return python;
    } catch { /* not installed */ }
  }
  return undefined;
}

Deno.test("release.yml: a tag builds, checks and publishes every binary and SHA256SUMS", async (t) => {
  const text = await Deno.readTextFile(WORKFLOW);
  const python = await pythonWithYaml();

  await t.step("it parses as YAML and triggers on tags v* only", async () => {
    if (python === undefined) {
      console.log("skipped the YAML parse: no python3 with PyYAML (apt-get install python3-yaml)");
      return;
    }
    const result = await run([
      python,
      "-c",
      "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
      WORKFLOW,
    ]);
    equal(result.code, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as Record<string, unknown>;
    // YAML 1.1 reads the key `on` as a boolean, which JSON writes as "true".
    deepEqual(doc.on ?? doc.true, { push: { tags: ["v*"] } });
    deepEqual(doc.permissions, { contents: "write" });
    const jobs = doc.jobs as Record<string, { "runs-on": string; steps: Step[] }>;
    const steps = Object.values(jobs).flatMap((job) => job.steps);
    const runs = steps.map((step) => step.run ?? "").join("\n");
    ok(steps.some((s) => /^actions\/checkout@[0-9a-f]{40}$/.test(s.uses ?? "")), "pinned checkout");
    for (const step of steps) {
      if (step.uses !== undefined) match(step.uses, /@[0-9a-f]{40}$/, "actions pinned by SHA");
    }
    const order = ["deno task check", "deno task compile", "sha256sum -c SHA256SUMS", "gh release"];
    const positions = order.map((command) => runs.indexOf(command));
    ok(positions.every((p) => p >= 0), `missing one of ${order.join(", ")}`);
    deepEqual([...positions].sort((a, b) => a - b), positions, "steps in order");
  });

  await t.step("it installs the Deno version CI uses", async () => {
    const ci = await Deno.readTextFile(`${ROOT}/.ci/run`);
    const version = /^DENO_VERSION=(\S+)$/m.exec(ci)?.[1];
    ok(version !== undefined, "DENO_VERSION in .ci/run");
    ok(text.includes(`npm install -g deno@${version}`), `deno ${version} in release.yml`);
  });

  await t.step("it uploads every binary for every target, and SHA256SUMS", () => {
    const upload = text.slice(text.indexOf("gh release create"));
    for (const target of TARGETS) {
      for (const binary of ["spa-server", "spa-client"]) {
        ok(upload.includes(`dist/${binary}-${target}`), `${binary}-${target} uploaded`);
      }
    }
    ok(upload.includes("dist/SHA256SUMS"));
  });

  await t.step("no tab characters (YAML forbids them in indentation)", () => {
    ok(!text.includes("\t"));
  });
});
