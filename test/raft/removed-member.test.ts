import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMembershipChangeSchema, RaftMembershipChangeType } from "../../src/gen/dcos/v1/raft_pb.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { TestCluster } from "./support/cluster.js";

const change = (type: RaftMembershipChangeType, member: string) => create(RaftMembershipChangeSchema, { type, member });

/** `id`'s pre-votes and elections started over `ticks` more ticks of every member. */
function campaignsOver(c: TestCluster, id: string, ticks: number): number {
  const s = c.node(id).raft.stats;
  const before = s.preVotesStarted + s.electionsStarted;
  c.tickAll(ticks);
  return s.preVotesStarted + s.electionsStarted - before;
}

/** a, b, c, d led by a, which removes d after `cutOff` (d keeps running unless it crashed). */
function removingD(cutOff: (c: TestCluster) => void, options: ConstructorParameters<typeof TestCluster>[1] = {}): TestCluster {
  const c = new TestCluster(["a", "b", "c", "d"], options);
  c.elect("a");
  cutOff(c);
  c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "d"));
  c.settle();
  return c;
}

/** `id` holds a membership without itself and no longer campaigns. */
function assertKnowsRemoved(c: TestCluster, id: string): void {
  assert.ok(!c.node(id).raft.membership().voters.has(id), `${id} learnt that it was removed`);
  assert.equal(campaignsOver(c, id, 80), 0, `${id} no longer campaigns`);
}

/**
 * A server removed from the group that keeps running (a master taken out of the
 * configuration but not stopped) must learn that it was removed, or it takes itself for a
 * voter and campaigns on every election timeout for ever (Raft thesis 4.2.3: it cannot
 * disrupt a group whose members hear their leader, but it must not be left to time out).
 */
describe("Raft: a removed server that keeps running", () => {
  it("receives the entry removing it, then stops campaigning; the leader then forgets it", () => {
    const c = removingD((g) => g.propose("a", "before"));
    c.propose("a", "after");
    assert.equal(c.node("a").raft.progressOf("d"), undefined, "the leader no longer replicates to d");
    assertKnowsRemoved(c, "d");
    assert.equal(c.node("a").raft.role, RaftRole.Leader);
    assert.equal(c.node("a").raft.term, c.node("b").raft.term);
  });

  it("one that was down when removed is caught up when it asks the leader for a vote", () => {
    const c = removingD((g) => g.crash("d"));
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
    c.node("a").compact(0); // d's next entries are compacted: it needs the snapshot
    c.tickAll(40); // the leader gives the silent d up
    assert.equal(c.node("a").raft.progressOf("d"), undefined);
    const term = c.node("a").raft.term;
    c.restart("d");
    c.tickAll(60);
    assert.ok(c.node("a").raft.stats.removedServersTold >= 1, "d's pre-vote made the leader catch it up");
    assertKnowsRemoved(c, "d");
    assert.equal(c.node("a").raft.term, term, "the leader kept its term");
    assert.equal(c.node("a").raft.role, RaftRole.Leader);
  });

  it("a leader elected after the removal catches up the servers its log removed, even ones that cannot reach it", () => {
    const c = removingD((g) => g.isolate("d"));
    c.add("e");
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "e"));
    c.settle();
    c.tickAll(2);
    c.node("a").raft.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "e"));
    c.settle();
    // d's configuration is a, b, c, d: it asks them, never e; and it cannot reach a.
    c.heal();
    c.cutLink("d", "a");
    c.node("a").raft.transferLeader("e");
    c.settle();
    assert.equal(c.leader().id, "e");
    c.tickAll(5);
    assertKnowsRemoved(c, "d");
    assert.equal(c.leader().id, "e");
  });

  it("its higher term does not depose the leader that catches it up", () => {
    // Without PreVote an isolated server raises its term at every timeout.
    const c = removingD((g) => g.isolate("d"), { preVote: false });
    c.tick("d", 100);
    assert.ok(c.node("d").raft.term > c.node("a").raft.term);
    const term = c.node("a").raft.term;
    c.heal();
    c.tickAll(60);
    assert.equal(c.node("a").raft.role, RaftRole.Leader, "the leader kept its role");
    for (const id of ["a", "b", "c"]) assert.equal(c.node(id).raft.term, term, `${id} kept the term`);
  });
});
