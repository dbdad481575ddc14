import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMembershipSchema, RaftSnapshotMetadataSchema, RaftSnapshotSchema, type RaftSnapshot } from "../../../src/gen/dcos/v1/raft_pb.js";
import { Snapshotter } from "../../../src/raft/storage/snapshotter.js";
import { CrashFs } from "../../support/crash-fs.js";

const DIR = "/data/snap";

function snapshot(index: number, term = 2): RaftSnapshot {
  return create(RaftSnapshotSchema, {
    metadata: create(RaftSnapshotMetadataSchema, { index: BigInt(index), term: BigInt(term), membership: create(RaftMembershipSchema, { voters: ["a", "b", "c"] }) }),
    data: new TextEncoder().encode(`state at ${index}`),
  });
}

describe("Snapshotter", () => {
  it("writes a temp file, syncs it, renames it into place, then syncs the directory", async () => {
    const fs = new CrashFs();
    await new Snapshotter(fs, DIR).save(snapshot(10));
    const name = `${DIR}/${Snapshotter.fileName(snapshot(10))}`;
    assert.deepEqual(fs.ops, [`write ${name}.tmp`, `sync ${name}.tmp`, `rename ${name}.tmp ${name}`, `syncdir ${DIR}`]);
    const loaded = await new Snapshotter(fs.crash(), DIR).loadNewest();
    assert.equal(loaded?.metadata?.index, 10n);
  });

  it("keeps the previous snapshot when a crash comes before the rename is made durable, and removes the temp file", async () => {
    const fs = new CrashFs();
    const snap = new Snapshotter(fs, DIR);
    await snap.save(snapshot(10));
    fs.holdSyncs();
    void snap.save(snapshot(20));
    await new Promise((r) => setImmediate(r));
    const after = fs.crash((path, n) => (path.endsWith(".tmp") ? Math.floor(n / 2) : 0));
    const reopened = new Snapshotter(after, DIR);
    assert.equal((await reopened.loadNewest())?.metadata?.index, 10n);
    assert.deepEqual(await after.list(DIR), [Snapshotter.fileName(snapshot(10))]);
    fs.release();
  });

  it("falls back to the older snapshot when the newest is damaged, and keeps only the newest two", async () => {
    const fs = new CrashFs();
    const snap = new Snapshotter(fs, DIR);
    for (const i of [10, 20, 30]) await snap.save(snapshot(i));
    assert.deepEqual((await fs.list(DIR)).sort(), [Snapshotter.fileName(snapshot(20)), Snapshotter.fileName(snapshot(30))]);
    const newest = `${DIR}/${Snapshotter.fileName(snapshot(30))}`;
    const bytes = fs.bytes(newest).slice();
    bytes[bytes.length - 1]! ^= 0x10;
    fs.setBytes(newest, bytes);
    assert.equal((await new Snapshotter(fs, DIR).loadNewest())?.metadata?.index, 20n);
  });

  it("has nothing to load in an empty directory", async () => {
    assert.equal(await new Snapshotter(new CrashFs(), DIR).loadNewest(), undefined);
  });
});
