import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMembershipChangeSchema, RaftMembershipChangeType, type RaftMessage } from "../../src/gen/dcos/v1/raft_pb.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { TestCluster } from "./support/cluster.js";
import { checkLogMatching } from "./support/invariants.js";

const change = (type: RaftMembershipChangeType, member: string) => create(RaftMembershipChangeSchema, { type, member });

describe("Raft snapshots and log compaction", () => {
  it("a follower behind the leader's compacted log receives the snapshot and catches up", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    for (let i = 0; i < 20; i++) c.propose("a", `v${i}`);
    c.node("a").compact(0);
    assert.ok(c.node("a").storage.firstIndex() > c.node("c").raft.lastIndex + 1, "c's next entry is compacted on a");
    c.heal();
    c.tickAll(12);
    const cNode = c.node("c");
    assert.equal(cNode.raft.stats.snapshotsInstalled, 1);
    assert.deepEqual(cNode.sm.data(), c.node("a").sm.data());
    c.propose("a", "after");
    assert.deepEqual(cNode.sm.data().at(-1), "after");
  });

  it("a lost snapshot is sent again once the follower is found stalled", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    for (let i = 0; i < 10; i++) c.propose("a", `v${i}`);
    c.node("a").compact(0);
    c.heal();
    let lost = 0;
    c.filter = (m) => m.body.case === "installSnapshotRequest" && lost++ === 0;
    c.tickAll(40);
    assert.equal(lost, 2, "sent twice");
    assert.deepEqual(c.node("c").sm.data(), c.node("a").sm.data());
  });

  it("a member restarts from its own snapshot plus the log after it", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 10; i++) c.propose("a", `v${i}`);
    c.node("b").compact(3);
    c.propose("a", "v10");
    c.crash("b");
    c.restart("b");
    c.tickAll(2);
    assert.deepEqual(c.node("b").sm.data(), c.node("a").sm.data());
    checkLogMatching([...c.nodes.values()]);
  });

  it("the snapshot records the membership in effect at its index", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "d"));
    c.settle();
    c.propose("a", "x");
    c.node("a").compact(0);
    assert.deepEqual(c.node("a").storage.snapshot().metadata?.membership?.learners, ["d"]);
  });
});

describe("Raft membership changes, one server at a time", () => {
  it("adds a learner, catches it up, promotes it; the new voter then counts toward commit", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
    c.add("d");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "d"));
    c.settle();
    c.tickAll(2);
    assert.deepEqual(c.node("d").sm.data(), c.node("a").sm.data());
    assert.ok(c.node("d").raft.membership().learners.has("d"));
    c.tick("d", 50);
    assert.equal(c.node("d").raft.role, RaftRole.Follower, "a learner does not campaign");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "d"));
    c.settle();
    for (const n of c.nodes.values()) assert.deepEqual([...n.raft.membership().voters].sort(), ["a", "b", "c", "d"], n.id);
    // With 4 voters a majority is 3: a and b alone cannot commit.
    c.isolate("c");
    c.isolate("d");
    c.propose("a", "needs-three");
    assert.ok(!c.node("a").sm.data().includes("needs-three"));
    c.heal();
    c.isolate("c");
    c.tickAll(5);
    assert.ok(c.node("a").sm.data().includes("needs-three"));
  });

  it("refuses a second change while the first is uncommitted, and precise errors for bad changes", () => {
    const c = new TestCluster(["a", "b", "c"], { promoteMaxLag: 0 });
    c.elect("a");
    c.isolate("a");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "d"));
    assert.throws(() => c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "e")), /in progress/);
    c.heal();
    c.tickAll(2);
    const a = c.node("a").raft;
    assert.throws(() => a.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "b")), /already a member/);
    assert.throws(() => a.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "b")), /not a learner/);
    assert.throws(() => a.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "z")), /not a member/);
    assert.throws(() => a.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "d")), /not caught up/);
  });

  it("refuses to promote a learner that has not yet received the entry adding it", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.add("d");
    c.isolate("d");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "d"));
    c.settle();
    assert.throws(() => c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "d")), /not caught up/);
    c.heal();
    c.tickAll(3);
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "d"));
    c.settle();
    assert.ok(c.node("d").raft.membership().voters.has("d"));
  });

  it("removes a follower: it gets no more entries and the rest commit without it", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "c"));
    c.settle();
    c.crash("c");
    c.propose("a", "two-of-two");
    assert.deepEqual(c.node("b").sm.data(), ["two-of-two"]);
    assert.equal(c.node("a").raft.progressOf("c"), undefined);
  });

  it("removes the leader: it steps down once the change commits and the others elect a leader", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "a"));
    c.settle();
    c.tickAll(2);
    assert.notEqual(c.node("a").raft.role, RaftRole.Leader);
    c.tickAll(40);
    const l = c.leader();
    assert.ok(["b", "c"].includes(l.id));
    c.propose(l.id, "without-a");
    assert.ok(c.node(l.id === "b" ? "c" : "b").sm.data().includes("without-a"));
  });

  it("a late acknowledgement from a removed server is not counted for a new server re-added under its id", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    let stale: RaftMessage | undefined;
    c.filter = (m) => {
      if (m.from === "c" && m.body.case === "appendEntriesResponse") stale = m;
      return false;
    };
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
    c.filter = undefined;
    assert.ok(stale && stale.body.case === "appendEntriesResponse" && stale.body.value.index >= 5n);
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "c"));
    c.settle();
    c.add("c"); // a new server, empty disk
    c.isolate("c");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "c"));
    c.settle();
    c.node("a").raft.step(stale);
    assert.equal(c.node("a").raft.progressOf("c")?.match, 0);
    c.heal();
    c.tickAll(5);
    assert.deepEqual(c.node("c").sm.data(), c.node("a").sm.data());
  });

  it("a new server that has no membership yet does not vote", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    c.add("d");
    c.node("a").raft.campaign();
    const request = c.node("a").raft.ready().messages.find((m) => m.to === "b")!;
    c.node("d").raft.step({ ...request, to: "d" });
    const answer = c.node("d").raft.ready().messages[0]!;
    assert.equal(answer.body.case, "voteResponse");
    assert.equal(answer.body.case === "voteResponse" && answer.body.value.granted, false);
  });

  it("a membership entry truncated from a follower's log is undone there", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    c.elect("a");
    c.partition(["a"], ["b", "c"]);
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "d"));
    c.settle();
    assert.ok(c.node("a").raft.membership().learners.has("d"), "in effect on append");
    c.elect("b");
    c.elect("b");
    c.heal();
    c.tickAll(3);
    assert.equal(c.leader().id, "b");
    assert.ok(!c.node("a").raft.membership().learners.has("d"), "undone when truncated");
  });
});
