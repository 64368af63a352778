/**
 * The client's journal (`lib/state/journal.ts`) through `HostState`: the save before a knock
 * leaves survives a crash at every point, a torn write never loses the record in use, and a
 * record never outlives the state file written after it.
 */

import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { HostState, StateFileError } from "../../lib/state/client_store.ts";
import {
  encodeJournalSlot,
  JOURNAL_SLOT_BYTES,
  journalBase,
  readJournalSync,
} from "../../lib/state/journal.ts";
import type { ClientSequence } from "../../lib/state/sequence.ts";

const IDENTITY = { uid: 1000, fingerprint: "00112233aabbccdd", initialSequence: 77 };
const KNOCK_1: ClientSequence = { state: "current", sequence: 77, unconfirmed: [1001] };
const KNOCK_2: ClientSequence = { state: "current", sequence: 77, unconfirmed: [1001, 1002] };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spa-journal-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A new process's view: lock, load, unlock (a crash drops the lock as unlock does). */
async function loadFresh(dir: string) {
  using state = await HostState.lock(dir, "web1");
  return await state.load(IDENTITY);
}

Deno.test("journal: a crash after the save before the send keeps the unconfirmed number", async () => {
  await withDir(async (dir) => {
    {
      using state = await HostState.lock(dir, "web1");
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_1);
      // crash: the knock is out, the state file is never written
    }
    deepStrictEqual(await loadFresh(dir), { sequence: KNOCK_1, origin: "stored" });
    {
      using state = await HostState.lock(dir, "web1");
      deepStrictEqual((await state.load(IDENTITY)).sequence, KNOCK_1);
      state.saveSync(IDENTITY, KNOCK_2); // the next knock, and a crash again
    }
    deepStrictEqual(await loadFresh(dir), { sequence: KNOCK_2, origin: "stored" });
  });
});

Deno.test("journal: a torn write of the next record leaves the record in use", async () => {
  await withDir(async (dir) => {
    let journal: string;
    {
      using state = await HostState.lock(dir, "web1");
      journal = state.journalPath;
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_1);
    }
    const [inUse] = readJournalSync(journal);
    ok(inUse !== undefined);
    // A power cut in the middle of the next write: half of a newer record in the other slot.
    const next = encodeJournalSlot(inUse.generation + 1, inUse.base, JSON.stringify(KNOCK_2));
    const file = await Deno.open(journal, { write: true });
    await file.seek((inUse.slot ^ 1) * JOURNAL_SLOT_BYTES, Deno.SeekMode.Start);
    await file.write(next.subarray(0, 100));
    file.close();
    deepStrictEqual(await loadFresh(dir), { sequence: KNOCK_1, origin: "stored" });
    // Damage to the slot in use itself (the one that was written last) is seen, never misread.
    const bytes = await Deno.readFile(journal);
    bytes[inUse.slot * JOURNAL_SLOT_BYTES + 50]! ^= 0xff;
    await Deno.writeFile(journal, bytes);
    deepStrictEqual(await loadFresh(dir), {
      sequence: { state: "current", sequence: 77 },
      origin: "initial",
    });
  });
});

Deno.test("journal: the state file written after a record supersedes it, and clears it", async () => {
  await withDir(async (dir) => {
    const acked: ClientSequence = { state: "current", sequence: 1001 };
    let journal: string;
    let path: string;
    {
      using state = await HostState.lock(dir, "web1");
      journal = state.journalPath;
      path = state.path;
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_1);
      const stale = await Deno.readFile(journal);
      await state.save(IDENTITY, acked); // the ack's commit
      equal(readJournalSync(journal).length, 0, "cleared once the state file is written");
      // A crash between the state file's write and the clearing leaves the old record: its base
      // is no longer the state file, so it is ignored.
      await Deno.writeFile(journal, stale);
    }
    deepStrictEqual(await loadFresh(dir), { sequence: acked, origin: "stored" });
    // Removing the state file (as an error message advises) starts from the key file again: no
    // record comes back.
    {
      using state = await HostState.lock(dir, "web1");
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_2);
      await state.save(IDENTITY, KNOCK_2);
    }
    await Deno.remove(path);
    deepStrictEqual((await loadFresh(dir)).origin, "initial");
  });
});

Deno.test("journal: a record of another key or user starts over from the key file", async () => {
  await withDir(async (dir) => {
    {
      using state = await HostState.lock(dir, "web1");
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_1);
    }
    using state = await HostState.lock(dir, "web1");
    const other = { ...IDENTITY, fingerprint: "ffffffffffffffff", initialSequence: 5 };
    deepStrictEqual(await state.load(other), {
      sequence: { state: "current", sequence: 5 },
      origin: "new-key",
    });
  });
});

Deno.test("journal: a slot's checksum covers its whole record", () => {
  const slot = encodeJournalSlot(3, journalBase(undefined), JSON.stringify(KNOCK_1));
  equal(slot.length, JOURNAL_SLOT_BYTES);
  // Every single-bit flip in the header, base, length, text or checksum is detected.
  const used = 42 + JSON.stringify(KNOCK_1).length + 32;
  for (let i = 0; i < used; i++) {
    const bad = slot.slice();
    bad[i]! ^= 0x01;
    equal(readSlot(bad), undefined, `byte ${i}`);
  }
  equal(readSlot(slot)?.generation, 3);
});

function readSlot(bytes: Uint8Array) {
  const dir = Deno.makeTempDirSync();
  try {
    const both = new Uint8Array(JOURNAL_SLOT_BYTES * 2);
    both.set(bytes);
    Deno.writeFileSync(`${dir}/j`, both);
    return readJournalSync(`${dir}/j`)[0];
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("journal: each slot is its own 4 KiB unit, so a torn sector cannot reach the other", () => {
  equal(JOURNAL_SLOT_BYTES % 4096, 0);
});

Deno.test("journal: one that cannot be read is a StateFileError naming it", async () => {
  await withDir(async (dir) => {
    let journal: string;
    {
      using state = await HostState.lock(dir, "web1");
      journal = state.journalPath;
    }
    await Deno.mkdir(journal); // a folder where the file should be: reading fails (EISDIR)
    using state = await HostState.lock(dir, "web1");
    await rejects(() => state.load(IDENTITY), (error: unknown) => {
      ok(error instanceof StateFileError, String(error));
      ok(error.message.includes(journal) && error.message.includes("cannot be read"));
      return true;
    });
  });
});

Deno.test("journal: a record made before the first state file does not apply to an empty one", async () => {
  await withDir(async (dir) => {
    let path: string;
    {
      using state = await HostState.lock(dir, "web1");
      path = state.path;
      await state.load(IDENTITY);
      state.saveSync(IDENTITY, KNOCK_1); // no state file yet: a record of "no file"
    }
    await Deno.writeFile(path, new Uint8Array(0)); // an empty state file appears
    using state = await HostState.lock(dir, "web1");
    await rejects(() => state.load(IDENTITY), StateFileError); // the empty file, not the record
  });
});
