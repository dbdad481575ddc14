import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RaftMessageSchema } from "../../src/gen/dcos/v1/raft_pb.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { TestCluster } from "./support/cluster.js";

describe("Raft elections", () => {
  it("elects a leader when a member times out, and everyone learns it", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.tickAll(40);
    const leaders = c.leaders();
    assert.equal(leaders.length, 1);
    const leader = leaders[0]!;
    for (const n of c.nodes.values()) {
      assert.equal(n.raft.leader, leader.id, `${n.id} knows the leader`);
      assert.equal(n.raft.term, leader.raft.term);
    }
  });

  it("election safety: at most one leader per term over many elections", () => {
    const c = new TestCluster(["a", "b", "c", "d", "e"], { seed: 5 });
    const leaderOfTerm = new Map<number, string>();
    for (let round = 0; round < 30; round++) {
      c.tickAll(1);
      for (const l of c.leaders()) {
        const seen = leaderOfTerm.get(l.raft.term);
        assert.ok(seen === undefined || seen === l.id, `term ${l.raft.term} has leaders ${seen} and ${l.id}`);
        leaderOfTerm.set(l.raft.term, l.id);
      }
      if (round % 7 === 3 && c.leaders().length > 0) c.isolate(c.leader().id);
      if (round % 7 === 6) c.heal();
    }
    assert.ok(leaderOfTerm.size >= 1);
  });

  it("a single voter elects itself and commits alone", () => {
    const c = new TestCluster(["a"]);
    c.elect("a");
    assert.equal(c.node("a").raft.role, RaftRole.Leader);
    c.propose("a", "x");
    assert.deepEqual(c.node("a").sm.data(), ["x"]);
  });

  it("a candidate whose log is behind cannot win (§5.4.1 election restriction)", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("c");
    c.propose("a", "x");
    c.heal();
    c.isolate("a");
    // c missed "x": b refuses its vote, so c cannot become leader.
    c.node("c").raft.campaign();
    c.settle();
    assert.notEqual(c.node("c").raft.role, RaftRole.Leader);
    c.elect("b");
    assert.equal(c.node("b").raft.role, RaftRole.Leader);
  });

  it("PreVote: a member isolated for a long time rejoins without disrupting the leader", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    const term = c.node("a").raft.term;
    c.isolate("c");
    c.tick("c", 200); // many election timeouts; only pre-votes, so no term bump
    assert.equal(c.node("c").raft.term, term);
    assert.equal(c.node("c").raft.role, RaftRole.PreCandidate);
    c.heal();
    c.tickAll(5);
    assert.equal(c.node("a").raft.role, RaftRole.Leader);
    assert.equal(c.node("a").raft.term, term);
    assert.equal(c.node("c").raft.leader, "a");
  });

  it("without PreVote, CheckQuorum's lease still makes voters ignore a rejoining member's higher term", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false });
    c.elect("a");
    c.isolate("c");
    c.tick("c", 100);
    const cTerm = c.node("c").raft.term;
    assert.ok(cTerm > c.node("a").raft.term, "c raised its term in isolation");
    c.heal();
    c.node("c").raft.campaign();
    c.settle();
    // b heard from a recently and ignores c's vote request: a stays leader until it hears c's term.
    assert.equal(c.node("b").raft.vote === "c", false);
    c.tickAll(30);
    assert.equal(c.leaders().length, 1);
    const l = c.leader();
    assert.ok(c.node("c").raft.term <= l.raft.term);
  });

  it("CheckQuorum: a leader that cannot hear a majority steps down", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.isolate("a");
    c.tick("a", 9);
    assert.equal(c.node("a").raft.role, RaftRole.Leader, "the followers were heard from in this timeout");
    c.tick("a", 11); // a whole election timeout without hearing anyone
    assert.equal(c.node("a").raft.role, RaftRole.Follower);
    assert.equal(c.node("a").raft.leader, "");
  });

  it("a learner never campaigns", () => {
    const c = new TestCluster(["a", "b"], {}, ["a"]);
    c.tick("b", 100);
    assert.equal(c.node("b").raft.role, RaftRole.Follower);
    assert.throws(() => c.node("b").raft.campaign(), /not a voter/);
  });

  it("a malformed message is refused with INVALID_ARGUMENT and changes nothing", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    const b = c.node("b").raft;
    const before = JSON.stringify({ term: b.term, last: b.lastIndex, commit: b.committed });
    // From a's generation (pinned by now: a message from another generation is refused before it is read).
    const fromGeneration = c.node("a").raft.generation;
    const noBody = create(RaftMessageSchema, { from: "a", to: "b", term: BigInt(b.term) });
    assert.throws(() => b.step(noBody), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /no body/.test(e.message));
    const gap = create(RaftMessageSchema, {
      from: "a",
      fromGeneration,
      to: "b",
      term: BigInt(b.term),
      body: {
        case: "appendEntriesRequest",
        value: { prevLogIndex: BigInt(b.lastIndex), prevLogTerm: BigInt(b.term), entries: [{ index: BigInt(b.lastIndex + 2), term: BigInt(b.term) }] },
      },
    });
    assert.throws(() => b.step(gap), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && /malformed/.test(e.message));
    const noSnapshot = create(RaftMessageSchema, {
      from: "a",
      fromGeneration,
      to: "b",
      term: BigInt(b.term),
      body: { case: "installSnapshotRequest", value: {} },
    });
    assert.throws(() => b.step(noSnapshot), (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT));
    assert.equal(JSON.stringify({ term: b.term, last: b.lastIndex, commit: b.committed }), before);
    c.propose("a", "still-works");
    assert.deepEqual(c.node("b").sm.data(), ["still-works"]);
  });

  it("ignores (and counts) a message addressed to another member or group", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    const b = c.node("b").raft;
    const dropped = b.stats.droppedMessages;
    b.step(create(RaftMessageSchema, { from: "a", to: "c", term: BigInt(b.term), body: { case: "timeoutNow", value: {} } }));
    b.step(create(RaftMessageSchema, { from: "a", to: "b", group: "other", term: BigInt(b.term), body: { case: "timeoutNow", value: {} } }));
    assert.equal(b.stats.droppedMessages, dropped + 2);
    assert.equal(b.role, RaftRole.Follower);
  });

  it("proposing to a follower fails with 'not leader' naming the leader", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    assert.throws(
      () => c.node("b").raft.propose(new Uint8Array([1])),
      (e: Error & { details?: Record<string, string> }) => /Not the leader/.test(e.message) && e.details?.leader === "a",
    );
  });
});
