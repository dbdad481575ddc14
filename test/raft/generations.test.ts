import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMembershipChangeSchema, RaftMembershipChangeType } from "../../src/gen/dcos/v1/raft_pb.js";
import { MemoryStorage } from "../../src/raft/core/log-storage.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { TestCluster } from "./support/cluster.js";
import { checkLogMatching } from "./support/invariants.js";
import { TestNode } from "./support/node.js";

const change = (type: RaftMembershipChangeType, member: string) => create(RaftMembershipChangeSchema, { type, member });
const IDS = ["a", "b", "c"];

/** Replaces `id` by a server that lost its disk and comes back at the same address with the same peers. */
function wipe(c: TestCluster, id: string, seed: number): TestNode {
  const n = new TestNode(id, new MemoryStorage(), { seed, peers: IDS });
  c.nodes.set(id, n);
  return n;
}

describe("Raft member generations", () => {
  it("the leader pins every member's storage generation in the membership, and all members agree", () => {
    const c = new TestCluster(IDS);
    c.elect("a");
    c.tickAll(2);
    const gens = new Set(IDS.map((id) => c.node(id).raft.generation));
    assert.equal(gens.size, 3, "each storage has its own generation");
    for (const id of IDS) {
      const pinned = c.node(id).raft.membership().generations;
      for (const other of IDS) assert.equal(pinned.get(other), c.node(other).raft.generation, `${id} knows ${other}'s generation`);
    }
    assert.equal(c.node("a").raft.stats.generationsPinned, 3);
  });

  it("the generation is persisted with the hard state and survives a restart", () => {
    const c = new TestCluster(IDS);
    c.elect("a");
    const before = c.node("b").raft.generation;
    assert.equal(c.node("b").storage.initialState().hardState.generation, before);
    c.crash("b");
    c.restart("b");
    c.tickAll(3);
    assert.equal(c.node("b").raft.generation, before);
    assert.equal(c.node("a").raft.stats.generationMismatches + c.node("b").raft.stats.generationMismatches, 0);
    c.propose("a", "x");
    assert.deepEqual(c.node("b").sm.data(), ["x"]);
  });

  it("a wiped member restarted at the same address cannot vote with its old identity; it must be re-added", () => {
    const c = new TestCluster(IDS);
    c.elect("a");
    c.tickAll(2);
    // b falls behind; a and c commit entries that b does not have.
    c.isolate("b");
    for (let i = 0; i < 5; i++) c.propose("a", `v${i}`);
    assert.equal(c.node("a").raft.committed, c.node("c").raft.committed);
    // c loses its disk and comes back under the same id; a goes down.
    const c2 = wipe(c, "c", 77);
    c.crash("a");
    c.heal();
    // Without generations, b (stale log) and c' (empty, bootstrapped voter) would make a
    // majority and lose the committed entries. b refuses c' and c' refuses b.
    c.tickAll(100);
    assert.ok(![c.node("b"), c2].some((n) => n.raft.role === RaftRole.Leader), "no leader without a", );
    assert.ok(c.node("b").raft.stats.generationMismatches > 0, "b refused c' messages");
    assert.ok(c2.raft.stats.generationMismatches > 0, "c' refused messages addressed to the old c");
    assert.equal(c.node("b").raft.vote === "c", false, "b never voted for c'");
    // a comes back and leads b; the committed entries are intact.
    c.restart("a");
    c.tickAll(60);
    const leader = c.leader();
    assert.notEqual(leader.id, "c");
    c.propose(leader.id, "after");
    assert.deepEqual(c.node("b").sm.data(), ["v0", "v1", "v2", "v3", "v4", "after"]);
    assert.deepEqual(c2.sm.data(), [], "c' is still refused");
    // Re-added (remove, add as a learner, promote), c' gets its new generation pinned and catches up.
    leader.raft.proposeMembershipChange(change(RaftMembershipChangeType.REMOVE, "c"));
    c.settle();
    c.tickAll(3);
    leader.raft.proposeMembershipChange(change(RaftMembershipChangeType.ADD_LEARNER, "c"));
    c.settle();
    c.tickAll(5);
    assert.equal(leader.raft.membership().generations.get("c"), c2.raft.generation);
    leader.raft.proposeMembershipChange(change(RaftMembershipChangeType.PROMOTE, "c"));
    c.settle();
    c.tickAll(3);
    assert.ok(leader.raft.membership().voters.has("c"));
    c.propose(leader.id, "re-added");
    assert.deepEqual(c2.sm.data(), ["v0", "v1", "v2", "v3", "v4", "after", "re-added"]);
    checkLogMatching([...c.nodes.values()]);
  });

  it("a message naming another generation of the receiver is refused and counted", () => {
    const c = new TestCluster(IDS);
    c.elect("a");
    c.tickAll(2);
    const b = c.node("b");
    const before = b.raft.stats.generationMismatches;
    const term = b.raft.term;
    c.filter = (m) => {
      if (m.to === "b") m.toGeneration = "0000000000000000";
      return false;
    };
    c.tickAll(1);
    assert.ok(b.raft.stats.generationMismatches > before);
    assert.equal(b.raft.term, term, "a refused message changes nothing");
  });
});
