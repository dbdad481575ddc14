/**
 * The election after the leader dies (issue 18): a follower whose connection to its leader
 * breaks (core `peerUnreachable`) elects within a fraction of the election timeout instead
 * of waiting it out, and nothing else changes: a follower that still hears the leader does
 * not grant, a link broken between one follower and a live leader deposes nobody, a
 * flapping connection starts no term, and quick elections that collide still end with one
 * leader. Members tick every 10 ms; elections after 10-20 ticks (100-200 ms).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftRole } from "../../src/raft/core/ready.js";
import { seeds } from "./simulation/seeds.js";
import { TestCluster } from "./support/cluster.js";
import type { NodeOptions } from "./support/node.js";
import { TimedGroup } from "./support/timed-group.js";

const TICK_MS = 10;
const ELECTION_MS = 10 * TICK_MS;

/** A group with a settled leader, some time after its election. */
function settledGroup(seed: number, members: number): TimedGroup {
  const g = new TimedGroup(seed, members, TICK_MS);
  assert.ok(g.runUntil(() => g.settled(), 20 * ELECTION_MS), `seed ${seed}: no leader at start`);
  g.run(g.rng.between(50, 300));
  assert.ok(g.settled(), `seed ${seed}: the leader changed with no fault`);
  return g;
}

/** a leads b and c, then dies; both notice and tick (neither hearing the other) until both are `role`; then the messages flow. */
function bothNoticeAtOnce(options: NodeOptions, role: RaftRole): { c: TestCluster; term: number } {
  const c = new TestCluster(["a", "b", "c"], options);
  c.elect("a");
  c.tickAll(3);
  const term = c.node("a").raft.term;
  c.crash("a");
  for (const id of ["b", "c"]) c.node(id).raft.peerUnreachable("a");
  for (let i = 0; i < 3; i++) for (const id of ["b", "c"]) if (c.node(id).raft.role === RaftRole.Follower) c.node(id).raft.tick();
  assert.deepEqual(["b", "c"].map((id) => c.node(id).raft.role), [role, role]);
  c.settle();
  return { c, term };
}

/** Kills the leader of a settled group; the time until a new leader, once every survivor follows one. */
function killLeader(seed: number, members: number): { ms: number; where: string } {
  const g = settledGroup(seed, members);
  const term = g.leader()!.raft.term;
  const killedAt = g.now;
  g.crash(g.leader()!.id);
  const elected = g.runUntil(() => g.leader() !== undefined && g.leader()!.raft.term > term, 10 * ELECTION_MS);
  const ms = g.now - killedAt;
  const where = () => `seed ${seed} (replay with DCOS_SEED=${seed}): ${g.nodes.map((n) => `${n.id} ${n.raft.role} t${n.raft.term}`).join(", ")}`;
  assert.ok(elected, `no new leader within 10 election timeouts; ${where()}`);
  assert.ok(g.runUntil(() => g.settled(), 5 * ELECTION_MS), `the survivors did not settle on one leader; ${where()}`);
  return { ms, where: where() };
}

describe("Raft: the connection to the leader breaks", () => {
  it("3 members: the leader's process dies -> a new leader within half the election timeout, for every seed", () => {
    for (const seed of seeds(300)) {
      const { ms, where } = killLeader(seed, 3);
      assert.ok(ms < ELECTION_MS / 2, `a new leader after ${ms} ms, not within half the election timeout (${ELECTION_MS / 2} ms); ${where}`);
    }
  });

  it("5 members: the leader's process dies -> a new leader within half the election timeout for 99% of seeds, and one leader within 3 timeouts for all", () => {
    // Four followers elect at once. Pre-votes are not exclusive, so two quick pre-candidates
    // could each collect a majority and split the term; a quick pre-candidate that grants
    // another's pre-vote gives its own up. What is left (about 1 seed in 1,000: both had
    // their majorities before either heard the other) is settled by the normal randomized
    // timeout (TimedGroup checks one leader per term throughout).
    const all = seeds(300);
    const slow: string[] = [];
    for (const seed of all) {
      const { ms, where } = killLeader(seed, 5);
      assert.ok(ms <= 3 * ELECTION_MS, `a new leader after ${ms} ms; ${where}`);
      if (ms >= ELECTION_MS / 2) slow.push(`seed ${seed}: ${ms} ms`);
    }
    assert.ok(slow.length <= 0.01 * all.length, `${slow.length} of ${all.length} seeds did not elect within half the election timeout (replay with DCOS_SEED=n): ${slow.join(", ")}`);
  });

  it("a link broken between one follower and a live leader deposes nobody: the other follower still hears the leader and refuses", () => {
    for (const seed of seeds(100)) {
      const g = settledGroup(seed, 3);
      const leader = g.leader()!;
      const term = leader.raft.term;
      const [cutOff, other] = g.nodes.filter((n) => n !== leader);
      const granted = other!.raft.stats.votesGranted;
      g.cutLink(cutOff!.id, leader.id);
      g.run(10 * ELECTION_MS);
      const where = `seed ${seed} (replay with DCOS_SEED=${seed})`;
      assert.ok(cutOff!.raft.stats.quickElections >= 1, `${where}: the cut-off follower did try a quick pre-vote`);
      assert.equal(leader.raft.role, RaftRole.Leader, `${where}: the leader still leads`);
      for (const n of g.nodes) assert.equal(n.raft.term, term, `${where}: ${n.id} is still in term ${term}`);
      assert.equal(other!.raft.leader, leader.id, `${where}: the other follower still follows the leader`);
      assert.equal(other!.raft.stats.votesGranted, granted, `${where}: the follower that hears the leader granted no (pre-)vote`);
    }
  });

  it("a connection that keeps breaking and coming back (messages still flow) starts no term", () => {
    for (const seed of seeds(50)) {
      const g = settledGroup(seed, 3);
      const leader = g.leader()!;
      const term = leader.raft.term;
      for (const f of g.nodes.filter((n) => n !== leader)) {
        for (let i = 0; i < 40; i++) {
          g.connectionBroke(f.id, leader.id);
          g.run(g.rng.between(1, 3 * TICK_MS));
        }
      }
      const where = `seed ${seed} (replay with DCOS_SEED=${seed})`;
      assert.equal(g.leader(), leader, `${where}: the same leader`);
      for (const n of g.nodes) assert.equal(n.raft.term, term, `${where}: ${n.id} is still in term ${term}`);
    }
  });

  it("both followers pre-vote at the same moment after the leader died: the lower id goes first, one leader at once", () => {
    const { c, term } = bothNoticeAtOnce({}, RaftRole.PreCandidate);
    // Each would grant the other's pre-vote and both would split term+1; c yields to b.
    assert.equal(c.leader().id, "b");
    assert.equal(c.leader().raft.term, term + 1);
    assert.equal(c.node("c").raft.leader, "b");
  });

  it("without PreVote, both followers stand at the same moment: a split vote, then exactly one leader after the normal timeout", () => {
    const { c, term } = bothNoticeAtOnce({ preVote: false }, RaftRole.Candidate);
    assert.deepEqual(["b", "c"].map((id) => [c.node(id).raft.role, c.node(id).raft.term]), [[RaftRole.Candidate, term + 1], [RaftRole.Candidate, term + 1]]);
    assert.equal(c.leaders().length, 0);
    c.tickAll(45);
    assert.equal(c.leaders().length, 1, "one leader after the normal randomized timeout");
    const leader = c.leader();
    assert.ok(leader.raft.term > term + 1);
    for (const id of ["b", "c"]) assert.equal(c.node(id).raft.leader, leader.id);
  });

  it("a follower that has not lost its link still refuses pre-votes inside the leader's lease", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.tickAll(3);
    const term = c.node("a").raft.term;
    const granted = c.node("c").raft.stats.votesGranted;
    c.crash("a");
    // Only b noticed (c's connection has not broken yet): c refuses, b waits for its timeout.
    c.node("b").raft.peerUnreachable("a");
    c.tick("b", 2);
    assert.equal(c.node("b").raft.stats.quickElections, 1);
    assert.equal(c.node("c").raft.stats.votesGranted, granted, "c did not grant b's pre-vote");
    assert.equal(c.node("c").raft.leader, "a");
    assert.ok([...c.nodes.values()].every((n) => n.raft.term === term));
    // Then c notices too: it grants b's next pre-vote, or elects itself; either way a leader.
    c.node("c").raft.peerUnreachable("a");
    c.tickAll(3);
    assert.equal(c.leaders().length, 1);
  });

  it("ignores a broken connection to a member that is not its leader, and on a leader", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.tickAll(3);
    c.node("b").raft.peerUnreachable("c");
    c.node("a").raft.peerUnreachable("b");
    assert.equal(c.node("b").raft.stats.leaderLinksLost + c.node("a").raft.stats.leaderLinksLost, 0);
    c.tickAll(8);
    assert.equal(c.leader().id, "a");
    assert.equal(c.node("b").raft.stats.preVotesStarted, 0);
  });
});
