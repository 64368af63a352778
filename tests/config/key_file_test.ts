import { encodeHex } from "../../lib/protocol/hex.ts";
import { deepEqual, equal, notEqual, rejects, throws } from "node:assert/strict";
import {
  formatKeyFile,
  KeyFileError,
  keyFileModeProblem,
  loadKeyFile,
  parseKeyFile,
  writeKeyFile,
} from "../../lib/config/key_file.ts";
import { Secret } from "../../lib/config/secret.ts";
import { secretFromPassphrase } from "../../lib/protocol/passphrase.ts";

const SECRET_BYTES = new Uint8Array(32).map((_, i) => 200 - i);
const SECRET_B64 = btoa(String.fromCharCode(...SECRET_BYTES));
const TEXT = `# spa key file\nuid = 1000\nsecret = "${SECRET_B64}"\nsequence = 3735928559\n`;

function problemsOf(text: string): string[] {
  try {
    parseKeyFile(text, { path: "/k/a.key" });
  } catch (error) {
    if (!(error instanceof KeyFileError)) throw error;
    for (const line of [error.message, ...error.problems]) {
      equal(line.includes(SECRET_B64.slice(0, 20)), false, "a secret must never be echoed");
      equal(line.includes("hunter2hunter2"), false, "a passphrase must never be echoed");
    }
    return [...error.problems];
  }
  throw new Error("accepted a bad key file");
}

Deno.test("parseKeyFile reads uid, secret and sequence", () => {
  const key = parseKeyFile(TEXT);
  equal(key.uid, 1000);
  equal(key.sequence, 3735928559);
  equal(key.source, "secret");
  deepEqual(key.secret.bytes(), SECRET_BYTES);
  equal(Object.isFrozen(key), true);
});

Deno.test("parseKeyFile decodes a secret's base64 as atob does (non-canonical last digit too)", () => {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < 2000; i++) {
    let text = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
    // The last digit's two low bits are not part of the 32 bytes: atob ignores them.
    text = `${text.slice(0, 42)}${digits[digits.indexOf(text[42]!) | (i % 4)]}=`;
    const expected = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const key = parseKeyFile(`uid = 7\nsecret = "${text}"\nsequence = 42\n`);
    deepEqual(key.secret.bytes(), expected, text);
  }
});

Deno.test("parseKeyFile derives the secret from a passphrase with the uid as salt", () => {
  const key = parseKeyFile(`uid = 7\npassphrase = "correct horse battery"\nsequence = 1\n`);
  equal(key.source, "passphrase");
  deepEqual(key.secret.bytes(), secretFromPassphrase("correct horse battery", 7));
});

Deno.test("parseKeyFile reports every problem without echoing secrets", () => {
  deepEqual(problemsOf(`uid = -1\nsequence = 0\nsecret = "${SECRET_B64.slice(1)}"\nextra = 1\n`), [
    "uid: -1 is not a uid (0-1099511627775)",
    "sequence: 0 is not a sequence number (1-4294967295)",
    "extra: unknown key",
    `secret: must be the base64 of 32 random bytes (44 characters ending in "=")`,
  ]);
  deepEqual(problemsOf(`uid = 1\nsequence = 1\n`), [
    `secret: missing (required, or "passphrase" instead)`,
  ]);
  deepEqual(
    problemsOf(`uid = 1\nsequence = 1\nsecret = "${SECRET_B64}"\npassphrase = "hunter2hunter2"\n`),
    [
      `set only one of "secret" and "passphrase"`,
    ],
  );
  deepEqual(problemsOf(`uid = 1\nsequence = 1\npassphrase = "hunter2"\n`), [
    "passphrase: is shorter than 12 characters",
  ]);
  deepEqual(problemsOf(`uid = 1\nsequence = 1\nsecret = 12345\n`), [
    `secret: must be the base64 of 32 random bytes (44 characters ending in "=")`,
  ]);
  deepEqual(problemsOf(`uid = 1\nsequence = 4294967296\nsecret = "${SECRET_B64}"\n`), [
    "sequence: 4294967296 is not a sequence number (1-4294967295)",
  ]);
  // A syntax error on the secret's own line: the parser's excerpt of the line must not leak.
  for (const bad of [`secret = "${SECRET_B64}" trailing`, `secret = "${SECRET_B64}`]) {
    const problems = problemsOf(`uid = 1\nsequence = 1\n${bad}\n`);
    equal(problems.length, 1);
    equal(/^line 3, column \d+: not valid TOML$/.test(problems[0]!), true, problems[0]);
  }
});

Deno.test("KeyFileError reads 'Cannot use key file PATH: reason'", () => {
  throws(() => parseKeyFile("uid = 1\n", { path: "/k/a.key" }), (error: Error) => {
    equal(error.name, "KeyFileError");
    equal(
      error.message,
      `Cannot use key file /k/a.key: 2 problems\n  sequence: missing (required)\n  secret: missing (required, or "passphrase" instead)`,
    );
    return true;
  });
});

Deno.test("keyFileModeProblem refuses access by group or others, as ssh does", () => {
  equal(keyFileModeProblem(0o100600, "/x/alice.key"), undefined);
  equal(keyFileModeProblem(0o400, "/x/alice.key"), undefined);
  equal(
    keyFileModeProblem(0o100644, "/x/alice.key"),
    "it is readable by group or others (mode 0644); run: chmod 600 /x/alice.key",
  );
  equal(
    keyFileModeProblem(0o620, "/x/alice.key"),
    "it is writable by group or others (mode 0620); run: chmod 600 /x/alice.key",
  );
  equal(
    keyFileModeProblem(0o666, "/x/alice.key"),
    "it is readable and writable by group or others (mode 0666); run: chmod 600 /x/alice.key",
  );
});

Deno.test("loadKeyFile checks the file's mode, existence and kind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/alice.key`;
    await Deno.writeTextFile(path, TEXT, { mode: 0o600 });
    await Deno.chmod(path, 0o600);
    equal((await loadKeyFile(path)).uid, 1000);
    await Deno.chmod(path, 0o644);
    await rejects(loadKeyFile(path), {
      name: "KeyFileError",
      message:
        `Cannot use key file ${path}: it is readable by group or others (mode 0644); run: chmod 600 ${path}`,
    });
    await rejects(loadKeyFile(`${dir}/nope.key`), {
      message: `Cannot use key file ${dir}/nope.key: it does not exist`,
    });
    await rejects(loadKeyFile(dir), {
      message: `Cannot use key file ${dir}: it is not a regular file`,
    });
    await Deno.writeFile(`${dir}/bin.key`, new Uint8Array([0xff, 0xfe]), { mode: 0o600 });
    await Deno.chmod(`${dir}/bin.key`, 0o600);
    await rejects(loadKeyFile(`${dir}/bin.key`), { message: /it is not UTF-8 text$/ });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeKeyFile writes mode 0600, never overwrites unless asked", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/alice.key`;
    const key = { uid: 1000, secret: new Secret(SECRET_BYTES), sequence: 77 };
    await writeKeyFile(path, key, { name: "alice" });
    equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const text = await Deno.readTextFile(path);
    equal(text.startsWith("# spa key file - keep it secret (mode 0600)\n# user: alice\n"), true);
    deepEqual((await loadKeyFile(path)).secret.bytes(), SECRET_BYTES);
    await rejects(writeKeyFile(path, { ...key, sequence: 78 }), {
      name: "AlreadyExists",
      message: `Cannot write key file ${path}: it already exists`,
    });
    equal((await loadKeyFile(path)).sequence, 77, "the old file is untouched");
    await Deno.chmod(path, 0o644);
    await writeKeyFile(path, { ...key, sequence: 78 }, { overwrite: true });
    equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    equal((await loadKeyFile(path)).sequence, 78);
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["alice.key"], "no temp file left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("formatKeyFile output parses back, and refuses out-of-range values", () => {
  const key = { uid: 2 ** 40 - 1, secret: new Secret(SECRET_BYTES), sequence: 2 ** 32 - 1 };
  const back = parseKeyFile(formatKeyFile(key));
  equal(back.uid, key.uid);
  equal(back.sequence, key.sequence);
  equal(back.secret.equals(key.secret), true);
  throws(() => formatKeyFile({ ...key, sequence: 0 }), RangeError);
  throws(() => formatKeyFile({ ...key, uid: 2 ** 40 }), RangeError);
});

Deno.test("a Secret never shows in printed forms", () => {
  const key = parseKeyFile(TEXT);
  const hex = encodeHex(SECRET_BYTES);
  const forms = [
    JSON.stringify(key),
    JSON.stringify({ nested: [key] }),
    Deno.inspect(key, { depth: Infinity, showHidden: true }),
    Deno.inspect({ a: { b: { c: key } } }, { depth: Infinity }),
    String(key.secret),
    `${key.secret}`,
    key.secret + "",
    Deno.inspect(key.secret),
  ];
  for (const form of forms) {
    equal(form.includes(SECRET_B64), false, form);
    equal(form.includes(hex), false, form);
    equal(form.includes("200"), false, `a byte of the secret shows in ${form}`);
    equal(/199.*198/.test(form), false, form);
  }
  equal(JSON.stringify(key.secret), `"[secret]"`);
  equal(Deno.inspect(key.secret), "[secret]");
  notEqual(key.secret.bytes(), key.secret.bytes(), "bytes() hands out copies");
  throws(() => new Secret(new Uint8Array(31)), RangeError);
  const other = new Secret(SECRET_BYTES);
  equal(other.equals(key.secret), true);
  other.wipe();
  equal(other.equals(key.secret), false);
});
