import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftEntrySchema, RaftMembershipSchema, type RaftEntry } from "../../src/gen/dcos/v1/raft_pb.js";
import { isCompacted, MemoryStorage } from "../../src/raft/core/log-storage.js";
import { RaftLog } from "../../src/raft/core/raft-log.js";

const entry = (index: number, term: number, data = ""): RaftEntry =>
  create(RaftEntrySchema, { index: BigInt(index), term: BigInt(term), data: new TextEncoder().encode(data) });
const terms = (es: RaftEntry[]) => es.map((e) => Number(e.term));

describe("MemoryStorage", () => {
  it("starts empty: first index 1, last index 0, term(0) = 0", () => {
    const s = new MemoryStorage();
    assert.equal(s.firstIndex(), 1);
    assert.equal(s.lastIndex(), 0);
    assert.equal(s.term(0), 0);
    assert.deepEqual(s.entries(1, 1), []);
  });

  it("appends, and replaces a conflicting suffix", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    s.append([entry(2, 2)]);
    assert.equal(s.lastIndex(), 2);
    assert.deepEqual(terms(s.entries(1, 3)), [1, 2]);
    assert.throws(() => s.append([entry(5, 2)]), /gap/);
  });

  it("limits entries by bytes but returns at least one", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1, "x".repeat(100)), entry(2, 1, "y".repeat(100)), entry(3, 1)]);
    assert.equal(s.entries(1, 4, 10).length, 1);
    assert.equal(s.entries(1, 4, 260).length, 2);
    assert.equal(s.entries(1, 4).length, 3);
  });

  it("compacts behind a snapshot: reads below fail as compacted, term of the snapshot index stays", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)]);
    const snap = s.createSnapshot(3, create(RaftMembershipSchema, { voters: ["a"] }), new Uint8Array([7]));
    assert.equal(snap.metadata?.index, 3n);
    assert.equal(snap.metadata?.term, 2n);
    s.compact(3);
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.term(3), 2);
    assert.throws(() => s.entries(2, 4), (e: unknown) => isCompacted(e));
    assert.throws(() => s.term(1), (e: unknown) => isCompacted(e));
    assert.deepEqual(s.initialState().membership.voters, ["a"]);
    assert.throws(() => s.createSnapshot(2, create(RaftMembershipSchema, {}), new Uint8Array()), /out of date/);
  });

  it("applies a newer snapshot from the leader, dropping the whole log", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1)]);
    const other = new MemoryStorage();
    other.append([entry(1, 1), entry(2, 3), entry(3, 3), entry(4, 3)]);
    s.applySnapshot(other.createSnapshot(4, create(RaftMembershipSchema, { voters: ["a", "b"] }), new Uint8Array()));
    assert.equal(s.firstIndex(), 5);
    assert.equal(s.lastIndex(), 4);
    assert.equal(s.term(4), 3);
  });
});

describe("RaftLog (persisted + unstable)", () => {
  it("reads across the persisted and unstable parts; unstable entries override storage", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    const log = new RaftLog(s, 1);
    log.append([entry(3, 2), entry(4, 2)]);
    assert.equal(log.lastIndex(), 4);
    assert.deepEqual(terms(log.entries(1, 5)), [1, 1, 2, 2]);
    log.stableTo(4, 2);
    assert.deepEqual(log.unstableEntries, []);
  });

  it("takes what the state machine applied as committed, even if the commit index was not persisted", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    const log = new RaftLog(s, 1, 3);
    assert.equal(log.committed, 3);
    assert.throws(() => new RaftLog(s, 1, 5), /beyond the last persisted entry/);
  });

  it("refuses to overwrite committed entries", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1)]);
    const log = new RaftLog(s, 2);
    assert.throws(() => log.append([entry(2, 2)]), /committed/);
  });

  it("finds the backtracking hint: the largest index at or below with a term at most the given one", () => {
    const s = new MemoryStorage();
    s.append([entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 4), entry(5, 4)]);
    const log = new RaftLog(s, 0);
    assert.deepEqual(log.findConflictByTerm(5, 3), { index: 3, term: 2 });
    assert.deepEqual(log.findConflictByTerm(5, 1), { index: 2, term: 1 });
    assert.deepEqual(log.findConflictByTerm(9, 4), { index: 5, term: 4 });
  });

  it("a stableTo for a term that was meanwhile replaced keeps the new entries unstable", () => {
    const log = new RaftLog(new MemoryStorage(), 0);
    log.append([entry(1, 1), entry(2, 1)]);
    log.append([entry(2, 2)]);
    log.stableTo(2, 1);
    assert.equal(log.unstableEntries.length, 2);
  });
});
