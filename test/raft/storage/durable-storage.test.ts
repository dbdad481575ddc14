import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMembershipSchema, RaftSnapshotMetadataSchema, RaftSnapshotSchema } from "../../../src/gen/dcos/v1/raft_pb.js";
import { isCompacted } from "../../../src/raft/core/log-storage.js";
import { DurableStorage } from "../../../src/raft/storage/durable-storage.js";
import { CrashFs } from "../../support/crash-fs.js";
import { entry, hardState, text } from "./records.js";

const DIR = "/data/raft";
const voters = create(RaftMembershipSchema, { voters: ["raft@a:1", "raft@b:1", "raft@c:1"] });

function open(fs: CrashFs, segmentBytes?: number): Promise<DurableStorage> {
  return DurableStorage.open({ dir: DIR, fs, segmentBytes, membership: voters });
}

function range(lo: number, hi: number, term = 1) {
  return Array.from({ length: hi - lo + 1 }, (_, i) => entry(lo + i, term));
}

function indices(s: DurableStorage): number[] {
  return s.entries(s.firstIndex(), s.lastIndex() + 1).map((e) => Number(e.index));
}

describe("DurableStorage", () => {
  it("starts empty with the bootstrap membership", async () => {
    const s = await open(new CrashFs());
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.deepEqual(s.initialState().membership.voters, voters.voters);
  });

  it("persists the term and vote before anything else can see them, and recovers them after a crash", async () => {
    const fs = new CrashFs();
    const s = await open(fs);
    await s.persist({ entries: [], hardState: hardState(7, "raft@b:1", 0) });
    const after = await open(fs.crash());
    assert.equal(after.initialState().hardState.term, 7n);
    assert.equal(after.initialState().hardState.vote, "raft@b:1");
  });

  it("shows entries to reads only once they are synced", async () => {
    const fs = new CrashFs();
    const s = await open(fs);
    await s.persist({ entries: range(1, 3) });
    fs.holdSyncs();
    const pending = s.persist({ entries: range(4, 5) });
    await new Promise((r) => setImmediate(r));
    assert.equal(s.lastIndex(), 3, "unsynced entries are not visible");
    assert.deepEqual(indices(await open(fs.crash())), [1, 2, 3]);
    fs.release();
    await pending;
    assert.equal(s.lastIndex(), 5);
  });

  it("replaces a conflicting suffix, also after a restart", async () => {
    const fs = new CrashFs();
    const s = await open(fs);
    await s.persist({ entries: range(1, 5, 1), hardState: hardState(1) });
    await s.persist({ entries: range(3, 4, 2), hardState: hardState(2) });
    assert.deepEqual(indices(s), [1, 2, 3, 4]);
    const after = await open(fs.crash());
    assert.deepEqual(indices(after), [1, 2, 3, 4]);
    assert.equal(after.term(3), 2);
    assert.equal(after.term(2), 1);
  });

  it("replaces the whole log with a snapshot from the leader, also after a restart", async () => {
    const fs = new CrashFs();
    const s = await open(fs);
    await s.persist({ entries: range(1, 10, 1) });
    const snap = create(RaftSnapshotSchema, {
      metadata: create(RaftSnapshotMetadataSchema, { index: 6n, term: 3n, membership: voters }),
      data: new TextEncoder().encode("sm"),
    });
    await s.persist({ snapshot: snap, entries: [entry(7, 3)], hardState: hardState(3, "", 6) });
    for (const st of [s, await open(fs.crash())]) {
      assert.equal(st.firstIndex(), 7);
      assert.equal(st.lastIndex(), 7);
      assert.equal(st.term(6), 3);
      assert.equal(st.term(7), 3);
      assert.equal(new TextDecoder().decode(st.snapshot().data), "sm");
    }
  });

  it("compacts below a snapshot of the state machine, deletes covered segments, and recovers from snapshot + log", async () => {
    const fs = new CrashFs();
    const s = await open(fs, 300);
    for (let i = 1; i <= 60; i++) await s.persist({ entries: [entry(i, 2)], hardState: hardState(2, "", i - 1) });
    const before = s.segments().length;
    await s.compact(40, voters, new TextEncoder().encode("state@40"));
    assert.ok(s.segments().length < before, `segments deleted (${before} -> ${s.segments().length})`);
    assert.equal(s.firstIndex(), 41);
    assert.throws(() => s.entries(30, 41), isCompacted);
    const after = await open(fs.crash(), 300);
    assert.equal(after.firstIndex(), 41);
    assert.equal(after.lastIndex(), 60);
    assert.equal(after.term(40), 2);
    assert.equal(text(after.entries(60, 61)[0]!), "entry-60");
    assert.equal(after.initialState().hardState.commit, 59n);
  });

  it("works on the real file system with real fdatasync", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raft-storage-"));
    try {
      const s = await DurableStorage.open({ dir, membership: voters });
      await s.persist({ entries: range(1, 100), hardState: hardState(1, "raft@a:1", 50) });
      await s.close();
      const again = await DurableStorage.open({ dir, membership: voters });
      assert.equal(again.lastIndex(), 100);
      assert.equal(again.initialState().hardState.commit, 50n);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
