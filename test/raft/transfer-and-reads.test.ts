import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftRole } from "../../src/raft/core/ready.js";
import { TestCluster } from "./support/cluster.js";

describe("Raft leader transfer", () => {
  it("hands leadership to a caught-up voter at once with TimeoutNow", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("a", "x");
    c.node("a").raft.transferLeader("b");
    c.settle();
    assert.equal(c.node("b").raft.role, RaftRole.Leader);
    assert.equal(c.node("a").raft.role, RaftRole.Follower);
    assert.equal(c.node("a").raft.leader, "b");
    c.propose("b", "y");
    for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["x", "y"], n.id);
  });

  it("catches a lagging transferee up first, refusing proposals meanwhile", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.propose("a", "x");
    c.node("a").raft.transferLeader("c");
    c.settle();
    assert.throws(() => c.node("a").raft.propose(new Uint8Array([1])), /transfer to c in progress/);
    c.heal();
    c.tickAll(4); // the leader probes c again, catches it up, then sends TimeoutNow
    assert.equal(c.node("c").raft.role, RaftRole.Leader);
    assert.deepEqual(c.node("c").sm.data(), ["x"]);
  });

  it("aborts a transfer that does not finish within an election timeout", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.node("a").raft.transferLeader("c");
    c.tick("a", 10);
    assert.equal(c.node("a").raft.transferee, "");
    assert.equal(c.node("a").raft.role, RaftRole.Leader);
    c.propose("a", "after");
    assert.deepEqual(c.node("b").sm.data(), ["after"]);
  });

  it("refuses to transfer to a non-voter", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    assert.throws(() => c.node("a").raft.transferLeader("z"), /not a voter/);
  });
});

describe("Raft ReadIndex", () => {
  it("confirms a read at the commit index after a majority answers a heartbeat", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("a", "x");
    const leader = c.node("a");
    leader.raft.readIndex("r1");
    c.settle();
    assert.deepEqual(leader.readStates, [{ ctx: "r1", index: leader.raft.committed }]);
  });

  it("a leader cut off from the majority never confirms a read (no stale reads)", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("a");
    c.node("a").raft.readIndex("stale?");
    c.settle();
    c.tick("a", 5);
    assert.deepEqual(c.node("a").readStates, []);
  });

  it("a read asked before the new leader committed in its term waits for that commit", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.propose("a", "x");
    // b takes over, but no acknowledgement reaches it: its noop is not committed.
    c.filter = (m) => m.to === "b" && m.body.case === "appendEntriesResponse";
    c.node("a").raft.transferLeader("b");
    c.settle();
    assert.equal(c.node("b").raft.role, RaftRole.Leader);
    c.node("b").raft.readIndex("early");
    c.settle();
    assert.deepEqual(c.node("b").readStates, []);
    c.filter = undefined;
    c.tickAll(2);
    assert.equal(c.node("b").readStates.length, 1);
    assert.equal(c.node("b").readStates[0]!.ctx, "early");
    assert.ok(c.node("b").readStates[0]!.index >= 3);
  });

  it("refuses reads on a follower with 'not leader'", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    assert.throws(() => c.node("b").raft.readIndex("r"), /Not the leader/);
  });

  it("batches the reads asked between two Readys into one round", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.delivered = [];
    for (let i = 0; i < 10; i++) c.node("a").raft.readIndex(`r${i}`);
    c.settle();
    assert.equal(c.node("a").readStates.length, 10);
    const heartbeats = c.delivered.filter((m) => m.from === "a" && m.body.case === "appendEntriesRequest");
    assert.equal(heartbeats.length, 2, "one heartbeat per follower");
  });
});
