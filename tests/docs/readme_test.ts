/** The README stays true: its permission table is the one in lib/permissions.ts, its commands exist. */

import { equal, ok } from "node:assert/strict";
import { permissionTableMarkdown } from "../../lib/permissions.ts";

const root = new URL("../../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));
const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));

Deno.test("README: the permission table is generated from lib/permissions.ts", () => {
  const begin = readme.indexOf("<!-- permissions:begin");
  const end = readme.indexOf("<!-- permissions:end -->");
  ok(begin >= 0 && end > begin, "markers present");
  const table = readme.slice(readme.indexOf("\n", begin) + 1, end).trim();
  // deno fmt pads the cells; compare cell by cell.
  const cells = (markdown: string) =>
    markdown.trim().split("\n").map((row) =>
      row.split("|").slice(1, -1).map((cell) => cell.trim().replace(/^:?-+:?$/, "---"))
    );
  equal(JSON.stringify(cells(table)), JSON.stringify(cells(permissionTableMarkdown())));
});

Deno.test("README: every `deno task X` it names is a task in deno.json", () => {
  const named = [...readme.matchAll(/deno task ([\w:-]+)/g)].map((m) => m[1]!);
  ok(named.includes("demo") && named.includes("test"), "the two newcomer commands");
  for (const task of new Set(named)) ok(task in denoJson.tasks, `deno.json has no task ${task}`);
});

Deno.test(".ci/run sets up once, then runs the README's test command and allows no download", async () => {
  const ci = await Deno.readTextFile(new URL(".ci/run", root));
  const lines = ci.trim().split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
  const setup = lines.indexOf("deno task setup");
  const test = lines.findIndex((l) => l.startsWith("deno task test"));
  const grep = lines.findIndex((l) => l.includes("grep") && l.includes("Download"));
  ok(setup >= 0 && test > setup && grep > test, lines.join("\n"));
  equal(lines.filter((l) => l.startsWith("deno task test")).length, 1);
  ok(readme.includes("deno task test"));
});
