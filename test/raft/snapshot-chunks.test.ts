import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMessageSchema, type RaftMessage } from "../../src/gen/dcos/v1/raft_pb.js";
import { SnapshotAssembler, snapshotChunks } from "../../src/raft/snapshot-chunks.js";
import { Random } from "../../src/runtime/random.js";
import { ListMachine, SimRaftCluster, bytes } from "../support/raft-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(18);

function installSnapshot(size: number, index = 40n, term = 3n, random = new Random(SEED)): RaftMessage {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = random.int(256);
  return create(RaftMessageSchema, {
    from: "raft@a:1",
    to: "raft@b:2",
    term,
    group: "g",
    fromGeneration: "ga",
    toGeneration: "gb",
    body: { case: "installSnapshotRequest", value: { snapshot: { metadata: { index, term: 2n, membership: { voters: ["raft@a:1", "raft@b:2"] } }, data } } },
  });
}

describe(`InstallSnapshot in chunks (seed ${SEED})`, () => {
  it("splits a large snapshot and puts it back together from chunks in any order, duplicated", () => {
    const random = new Random(SEED);
    const m = installSnapshot(10_000);
    const chunks = snapshotChunks(m, 999);
    assert.equal(chunks.length, 11);
    assert.ok(chunks.every((c) => c.body.case === "installSnapshotChunk" && c.term === m.term && c.to === m.to && c.fromGeneration === "ga"));
    const shuffled = random.shuffle([...chunks, chunks[3]!, chunks[7]!]);
    const a = new SnapshotAssembler();
    const results = shuffled.map((c) => a.add(c));
    const complete = results.filter((r) => "complete" in r);
    assert.equal(complete.length, 1, "complete once, when the last missing byte arrives");
    assert.equal(results.indexOf(complete[0]!) >= 10, true);
    assert.deepEqual((complete[0] as { complete: RaftMessage }).complete, m);
    assert.equal(a.size, 0);
  });

  it("leaves a small snapshot and every other message whole", () => {
    const m = installSnapshot(999);
    assert.deepEqual(snapshotChunks(m, 999), [m]);
    const vote = create(RaftMessageSchema, { from: "a", to: "b", body: { case: "voteRequest", value: {} } });
    assert.deepEqual(snapshotChunks(vote, 1), [vote]);
  });

  it("never completes with a chunk missing, starts over for another snapshot, and refuses chunks outside the snapshot", () => {
    const a = new SnapshotAssembler();
    const old = snapshotChunks(installSnapshot(5_000, 40n), 1_000);
    for (const c of old.slice(0, 4)) assert.ok("pending" in a.add(c));
    const newer = snapshotChunks(installSnapshot(3_000, 80n, 4n), 1_000);
    assert.ok("pending" in a.add(newer[0]!));
    assert.ok("pending" in a.add(old[4]!), "the old snapshot's last chunk starts it over instead of completing it");
    for (const c of newer.slice(1)) assert.ok("pending" in a.add(c), "the newer snapshot lost its first chunk when the old one started over");
    const bad = create(RaftMessageSchema, { ...old[0]!, body: { case: "installSnapshotChunk", value: { ...(old[0]!.body.value as object), offset: 4_500n } } } as never);
    assert.match((a.add(bad) as { refused: string }).refused, /outside the snapshot/);
    const huge = create(RaftMessageSchema, { ...old[0]!, body: { case: "installSnapshotChunk", value: { ...(old[0]!.body.value as object), total: 2n ** 40n } } } as never);
    assert.match((a.add(huge) as { refused: string }).refused, /at most/);
  });

  it("catches a member up through a snapshot sent in chunks over a lossy network", async () => {
    const c = await SimRaftCluster.start(SEED, () => new ListMachine(), {
      extra: { snapshotEntries: 20, catchUpEntries: 2, snapshotChunkBytes: 64 },
      faults: { minDelayMs: 1, maxDelayMs: 10, drop: 0.05, duplicate: 0.05 },
    });
    let leader = await c.waitForLeader();
    const lagging = c.up().find((m) => m !== leader)!.address;
    await c.crash(lagging);
    for (let i = 0; i < 60; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`item ${i} ${"x".repeat(20)}`)), 20_000)).ok);
    await c.clock.advanceUntil(() => leader.storage.firstIndex() > 20, 10_000);
    await c.startMember(lagging);
    await c.clock.advanceUntil(() => c.member(lagging).node.machine.items.length === 60, 30_000);
    leader = await c.waitForLeader();
    assert.deepEqual(c.member(lagging).node.machine.items, leader.node.machine.items);
    const sent = c.up().reduce((n, m) => n + (m.system.metrics.value("raft/snapshot_chunks_sent") ?? 0), 0);
    assert.ok(sent > 10, `the snapshot went in chunks (${sent} sent)`);
    assert.ok(Number(c.member(lagging).storage.snapshot().metadata?.index ?? 0n) > 20, "the member installed the leader's snapshot");
    await c.stop();
  });
});
