import { deepEqual, equal } from "node:assert/strict";
import fc from "fast-check";
import { parseToml } from "../../lib/config/_fields.ts";
import { runSteps } from "../../lib/config/_pause.ts";
import { cutTomlPieces, parseTomlSteps } from "../../lib/config/_toml_split.ts";
import { checkServerConfig, checkServerConfigSliced } from "../../lib/config/server.ts";

/** What the pieces give, and what one parse of the whole text gives (keys in order too). */
function bothWays(text: string): void {
  const whole = parseToml(text);
  const split = runSteps(parseTomlSteps(text));
  deepEqual(split, whole, text);
  if (whole.value !== undefined) {
    deepEqual(Object.keys(split.value!), Object.keys(whole.value), text);
  }
}

// Lines a config may hold, tricky ones included: headers inside multi-line strings and arrays,
// tables under users, a users key at the top, headers with comments and odd spacing.
const LINE = fc.constantFrom(
  `[[users]]`,
  `[[users]]`,
  `[[users]]`,
  `[[ users ]] # bob`,
  `uid = 1`,
  `uid = 2`,
  `name = "a"`,
  `ports = ["tcp/22"]`,
  `ports = [`,
  `"tcp/22",`,
  `[1, 2],`,
  `]`,
  `[[users]]`,
  `s = """`,
  `s = '''`,
  `"""`,
  `'''`,
  `[ports."tcp/22"]`,
  `[ports."tcp/22"]`,
  `idle_timeout = "5m"`,
  `[rate_limit]`,
  `failed_burst = 3`,
  `[users.x]`,
  `[[users.y]]`,
  `["users"]`,
  `[users]`,
  `users = []`,
  `users.z = 1`,
  `server_id = "web1"`,
  `x = { a = 1 }`,
  `x = {`,
  `}`,
  `[a]`,
  `[a.b]`,
  `[[a]]`,
  `# [[users]]`,
  `key = "[[users]]"`,
  `  [[users]]`,
  `[[users]]\r`,
  `q = 'it''s'`,
  // JavaScript's multiline ^ matches after U+2028/U+2029, which TOML allows inside a comment.
  `# reviewed\u2028[[users]]`,
  `# note\u2029[a]`,
  ``,
);

Deno.test("parseTomlSteps gives what one parse of the whole text gives", () => {
  fc.assert(
    fc.property(fc.array(LINE, { maxLength: 30 }), (lines) => bothWays(lines.join("\n") + "\n")),
    { numRuns: 3000 },
  );
});

Deno.test("parseTomlSteps: known cases, parsed in pieces or at once", () => {
  const cases = [
    `a = 1\n[[users]]\nuid = 1\n[ports."tcp/22"]\nidle_timeout = "1m"\n[[users]]\nuid = 2\n`,
    `x = [\n[[users]]\nuid = 1\n[2]\n]\n`, // the array would close in a later piece: refused whole
    `[[users]]\n[a]\nx = [\n[[users]]\nuid = 1\n[1]\n]\n`, // the same, after a users table
    `s = """\n[[users]]\n"""\n[[users]]\nuid = 1\n`, // a header inside a string
    `[[users]]\nuid = 1\n[users.x]\n`, // a table under users
    `users = []\n[[users]]\n`, // users defined twice
    `[a]\n[[users]]\nuid = 1\n[a]\n`, // a table defined twice, across users
    `[[users]]\nuid = 1\nuid = 2\n`, // an error inside one user: the whole text's line number
  ];
  for (const text of cases) bothWays(text);
  equal(cutTomlPieces(cases[0]!)?.users.length, 2);
  equal(cutTomlPieces(`[users.x]\n[[users]]\n`), undefined);
});

Deno.test("checkServerConfigSliced gives what checkServerConfig gives, and lets timers run", async () => {
  let text = `server_id = "web1"\ninterfaces = ["lo"]\n`;
  for (let uid = 1; uid <= 3000; uid++) {
    text += `[[users]]\nuid = ${uid}\nname = "u${uid}"\nkey_file = "/k/${uid}.key"\n` +
      `ports = ["tcp/22"]\nsources = ["10.0.0.0/8"]\nrequire_source_binding = true\n`;
    if (uid === 10) text += `[ports."tcp/22"]\nidle_timeout = "2m"\n`;
  }
  text += `[[users]]\nuid = 1\nname = "dup"\nkey_file = "/k/d.key"\nports = ["udp/53"]\n`;
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const sliced = await checkServerConfigSliced(text, {
      path: "/etc/spa/server.toml",
      sliceMs: 1,
    });
    const whole = checkServerConfig(text, { path: "/etc/spa/server.toml" });
    deepEqual(sliced, whole);
    deepEqual(sliced.problems, ["users[3000].uid: 1 is already used by users[0]"]);
    equal(sliced.keyFiles.length, 3001);
  } finally {
    clearInterval(timer);
  }
  equal(ticks > 0, true, "a timer should have run during the check");
});

Deno.test("parseTomlSteps: a header after U+2028 inside a comment is comment, not a user", () => {
  const text = `[[users]]\nuid = 1\nname = "alice"\n[ports."tcp/22"]\nidle_timeout = "5m"\n` +
    `# reviewed\u2028[[users]]\nuid = 666\nname = "mallory"\n`;
  bothWays(text);
  const users = (runSteps(parseTomlSteps(text)).value as { users: unknown[] }).users;
  equal(users.length, 1);
});
