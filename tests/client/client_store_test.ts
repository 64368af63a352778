/** The client's state store: file names, format, key fingerprint resets, durability. */

import { deepStrictEqual, equal, match, notEqual, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  addressFileStem,
  formatClientState,
  hostFileStem,
  HostState,
  parseClientState,
  StateFileError,
} from "../../lib/state/client_store.ts";

const IDENTITY = { uid: 1000, fingerprint: "00112233aabbccdd", initialSequence: 77 };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spa-store-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("hostFileStem() keeps plain names and escapes everything else, injectively", () => {
  equal(hostFileStem("web1.example_a-b"), "web1.example_a-b");
  equal(hostFileStem(".."), "%2E.");
  equal(hostFileStem("a/b"), "a%2Fb");
  equal(hostFileStem("a%2Fb"), "a%252Fb");
  equal(hostFileStem("a@1"), "a%401");
  equal(hostFileStem("é"), "%C3%A9");
  notEqual(hostFileStem("a b"), hostFileStem("a_b"));
  throws(() => hostFileStem(""), TypeError);
  // Address stems hold a bare "@", which no host stem does.
  equal(addressFileStem("10.77.0.1", 7), "10.77.0.1@7");
  throws(() => addressFileStem("../x", 7), TypeError);
});

Deno.test("parseClientState() accepts what formatClientState() writes and refuses the rest", () => {
  const file = {
    version: 1 as const,
    uid: 5,
    fingerprint: "abcdef",
    sequence: {
      state: "pending" as const,
      sequence: 9,
      previous: 3,
      graceUntil: 1e9,
      unconfirmed: [4, 6],
    },
  };
  deepStrictEqual(parseClientState(formatClientState(file)), file);
  const bad: [string, RegExp][] = [
    ["{", /not JSON/],
    ["[]", /not a JSON object/],
    ['{"version":2}', /version is 2/],
    ['{"version":1,"uid":-1}', /uid/],
    ['{"version":1,"uid":1,"fingerprint":"XYZ"}', /fingerprint/],
    [
      '{"version":1,"uid":1,"fingerprint":"ab","sequence":{"state":"current","sequence":0}}',
      /1\.\.2\^32-1/,
    ],
    ['{"version":1,"uid":1,"fingerprint":"ab","sequence":{"state":"odd","sequence":1}}', /"odd"/],
    [
      '{"version":1,"uid":1,"fingerprint":"ab","sequence":{"state":"current","sequence":1,"unconfirmed":[0]}}',
      /unconfirmed/,
    ],
    [
      '{"version":1,"uid":1,"fingerprint":"ab","sequence":{"state":"pending","sequence":1,"previous":2}}',
      /graceUntil/,
    ],
  ];
  for (const [text, reason] of bad) throws(() => parseClientState(text), reason, text);
});

Deno.test("HostState: starts from the key file, keeps its own state, resets for another key", async () => {
  await withDir(async (dir) => {
    using state = await HostState.lock(dir, "web1");
    equal(state.path, join(dir, "hosts", "web1.json"));
    deepStrictEqual(await state.load(IDENTITY), {
      sequence: { state: "current", sequence: 77 },
      origin: "initial",
    });
    await state.save(IDENTITY, { state: "current", sequence: 78, unconfirmed: [79] });
    deepStrictEqual(await state.load(IDENTITY), {
      sequence: { state: "current", sequence: 78, unconfirmed: [79] },
      origin: "stored",
    });
    equal((await Deno.stat(state.path)).mode! & 0o777, 0o600);
    equal((await Deno.stat(join(dir, "hosts"))).mode! & 0o777, 0o700);
    // A regenerated key (another fingerprint) or another user starts over from its key file.
    const newKey = { ...IDENTITY, fingerprint: "ffffffffffffffff", initialSequence: 5 };
    deepStrictEqual(await state.load(newKey), {
      sequence: { state: "current", sequence: 5 },
      origin: "new-key",
    });
    deepStrictEqual((await state.load({ ...IDENTITY, uid: 1001 })).origin, "new-key");
    // No temporary file is left behind.
    const names = [...Deno.readDirSync(join(dir, "hosts"))].map((e) => e.name).sort();
    deepStrictEqual(names, ["web1.json", "web1.lock"]);
  });
});

Deno.test("HostState: an unusable state file is an error, never silently replaced", async () => {
  await withDir(async (dir) => {
    using state = await HostState.lock(dir, "web1");
    await Deno.writeTextFile(state.path, "{ torn");
    await rejects(state.load(IDENTITY), (e: Error) => {
      ok(e instanceof StateFileError);
      match(e.message, /^Cannot use state file .*web1\.json: it is not JSON$/);
      return true;
    });
    equal(await Deno.readTextFile(state.path), "{ torn");
  });
});

Deno.test("HostState: the lock is exclusive and released by unlock()", async () => {
  await withDir(async (dir) => {
    const first = await HostState.lock(dir, "web1");
    let waited = false;
    let acquired = false;
    const second = HostState.lock(dir, "web1", { onWait: () => (waited = true) }).then((s) => {
      acquired = true;
      return s;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    ok(waited, "the second lock must report that it waits");
    ok(!acquired, "the second lock must wait");
    first.unlock();
    first.unlock(); // twice is harmless
    const held = await second;
    ok(acquired);
    await rejects(first.load(IDENTITY), TypeError);
    held.unlock();
  });
});
