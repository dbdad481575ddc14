import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RaftMessage } from "../../src/gen/dcos/v1/raft_pb.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { TestCluster } from "./support/cluster.js";
import { bytes, type TestNode } from "./support/node.js";
import { AppliedRecord, checkLogMatching, logOf } from "./support/invariants.js";

/** Removes the entry at `index` from `from`'s appends (the message still goes through). */
function stripEntry(m: RaftMessage, from: string, index: number): false {
  if (m.from === from && m.body.case === "appendEntriesRequest") {
    m.body.value.entries = m.body.value.entries.filter((e) => Number(e.index) !== index);
  }
  return false;
}

function campaignUntilLeader(c: TestCluster, id: string): void {
  for (let i = 0; i < 5 && c.node(id).raft.role !== RaftRole.Leader; i++) c.elect(id);
  assert.equal(c.node(id).raft.role, RaftRole.Leader, `${id} became leader`);
}

describe("Raft log replication", () => {
  it("replicates and applies proposals on every member in order", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    for (const x of ["x", "y", "z"]) c.propose("a", x);
    c.tickAll(2);
    for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["x", "y", "z"], n.id);
  });

  it("log matching: a follower's conflicting uncommitted suffix is replaced by the leader's", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    c.elect("a");
    c.isolate("a");
    c.propose("a", "lost-1");
    c.propose("a", "lost-2");
    c.heal();
    c.isolate("a");
    campaignUntilLeader(c, "b");
    c.propose("b", "kept");
    c.heal();
    c.tickAll(3);
    checkLogMatching([...c.nodes.values()]);
    for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["kept"], n.id);
    assert.ok(!logOf(c.node("a")).some((e) => new TextDecoder().decode(e.data).startsWith("lost")), "a dropped its uncommitted entries");
  });

  it("fast backtracking: a follower with a long conflicting tail is repaired in one rejection, not one per entry", () => {
    const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
    c.elect("a");
    c.isolate("a");
    for (let i = 0; i < 50; i++) c.node("a").raft.propose(new TextEncoder().encode(`stale-${i}`));
    c.settle();
    c.heal();
    c.isolate("a");
    campaignUntilLeader(c, "b");
    for (let i = 0; i < 60; i++) c.node("b").raft.propose(new TextEncoder().encode(`new-${i}`));
    c.settle();
    // c leads next, starting its estimate of a's log at its own end, far past the conflict.
    c.node("b").raft.transferLeader("c");
    c.settle();
    assert.equal(c.node("c").raft.role, RaftRole.Leader);
    c.heal();
    c.delivered = [];
    c.tickAll(3);
    const rejections = c.delivered.filter((m) => m.from === "a" && m.body.case === "appendEntriesResponse" && !m.body.value.success);
    assert.equal(rejections.length, 1, "one rejection, whose hint skips the whole stale term");
    checkLogMatching([...c.nodes.values()]);
    assert.equal(c.node("a").sm.data().length, 60);
    assert.deepEqual(c.node("a").sm.data(), c.node("c").sm.data());
  });

  it("the figure-8 rule: a leader does not commit an entry of an earlier term by counting replicas", () => {
    const c = new TestCluster(["a", "b", "c", "d", "e"], { preVote: false, checkQuorum: false, maxMsgBytes: 1 });
    c.elect("a");
    const n = c.node("a").raft.lastIndex + 1;
    // (a) a (term 2) appends x at n and replicates it to b only.
    c.partition(["a", "b"], ["c", "d", "e"]);
    c.propose("a", "x");
    assert.equal(c.node("b").raft.lastIndex, n);
    // (b) e is elected by c, d (term 3) and appends its noop at n without replicating it.
    c.crash("a");
    c.filter = (m) => m.from === "e" && m.body.case === "appendEntriesRequest";
    campaignUntilLeader(c, "e");
    assert.equal(c.node("e").raft.log.term(n), c.node("e").raft.term);
    // (c) e crashes; a restarts, is elected (term 4) and replicates x to c and d, but not its own noop.
    c.crash("e");
    c.heal();
    c.filter = (m) => stripEntry(m, "a", n + 1); // the network loses a's noop, nothing else
    c.restart("a");
    campaignUntilLeader(c, "a");
    c.tickAll(2);
    for (const id of ["b", "c", "d"]) assert.equal(c.node(id).raft.lastIndex, n, `${id} has x at ${n}`);
    const termOfX = c.node("a").raft.log.term(n);
    assert.ok(termOfX < c.node("a").raft.term);
    // x is on a majority (a, b, c, d) but of an earlier term: it must not be committed.
    assert.ok(c.node("a").raft.committed < n, `a committed ${c.node("a").raft.committed} >= ${n}`);
    for (const node of c.nodes.values()) assert.ok(!node.sm.data().includes("x"), `${node.id} applied x`);
    // (d) indeed, e can still be elected and overwrite x: had it been committed, that would be a loss.
    c.crash("a");
    c.filter = undefined;
    c.restart("e");
    campaignUntilLeader(c, "e");
    c.tickAll(3);
    for (const id of ["b", "c", "d", "e"]) {
      assert.notEqual(c.node(id).raft.log.term(n), termOfX, `${id} replaced x`);
      assert.ok(!c.node(id).sm.data().includes("x"));
    }
  });

  it("the figure-8 rule, case (e): once the leader's own-term entry is on a majority, the earlier entry commits with it", () => {
    const c = new TestCluster(["a", "b", "c", "d", "e"], { preVote: false, checkQuorum: false });
    c.elect("a");
    c.partition(["a", "b"], ["c", "d", "e"]);
    c.propose("a", "x");
    c.crash("a");
    c.heal();
    c.isolate("e");
    c.restart("a");
    campaignUntilLeader(c, "a");
    c.tickAll(2);
    for (const id of ["a", "b", "c", "d"]) assert.deepEqual(c.node(id).sm.data(), ["x"], id);
    // e missed it all and cannot win any more: its log is behind a majority's.
    c.heal();
    c.isolate("a");
    c.elect("e");
    assert.notEqual(c.node("e").raft.role, RaftRole.Leader);
  });

  it("leader completeness and state machine safety across repeated leader crashes", () => {
    const c = new TestCluster(["a", "b", "c", "d", "e"], { seed: 11 });
    const record = new AppliedRecord();
    let k = 0;
    for (let round = 0; round < 12; round++) {
      c.tickAll(25);
      const leader = c.leader();
      record.observe([...c.nodes.values()]);
      record.checkLeaderHas(leader);
      for (let i = 0; i < 5; i++) c.propose(leader.id, `v${k++}`);
      c.crash(leader.id);
      c.tickAll(1);
      c.restart(leader.id);
    }
    c.tickAll(25);
    record.observe([...c.nodes.values()]);
    checkLogMatching([...c.nodes.values()]);
    const applied = c.leader().sm.data();
    assert.ok(applied.length >= 12, `applied ${applied.length}`);
    for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), applied, n.id);
  });

  it("a follower applies only what the leader told it is committed", () => {
    const c = new TestCluster(["a", "b", "c"]);
    c.elect("a");
    c.filter = (m) => m.from === "a" && m.to === "c";
    c.propose("a", "x");
    assert.deepEqual(c.node("a").sm.data(), ["x"]);
    assert.deepEqual(c.node("c").sm.data(), []);
    c.filter = undefined;
    c.tickAll(5); // the leader notices c stalled and probes it again
    assert.deepEqual(c.node("c").sm.data(), ["x"]);
  });

  describe("the leader writes its log in parallel with replicating it (Raft thesis 10.2.1)", () => {
    /** Steps every message of `msgs` addressed to `to` into it. */
    const deliver = (msgs: RaftMessage[], to: TestNode): void => {
      for (const m of msgs) if (m.to === to.id) to.raft.step(m);
    };
    /** A follower takes its Ready, writes it and answers (without the cluster's settling). */
    const followerRound = (f: TestNode): RaftMessage[] => {
      const rd = f.takeReady();
      return rd ? f.completeReady(rd) : [];
    };

    it("the leader counts itself only once its own write is durable; its followers alone may commit before", () => {
      const c = new TestCluster(["a", "b", "c"]);
      c.elect("a");
      const [a, b, cc] = [c.node("a"), c.node("b"), c.node("c")];
      const x = a.raft.propose(bytes("x"));
      const rd = a.takeReady()!;
      assert.deepEqual(rd.entries.map((e) => Number(e.index)), [x.index]);
      // The appends go out now; a's own write is still in flight.
      deliver(rd.messages, b);
      deliver(followerRound(b), a);
      assert.ok(a.raft.committed < x.index, `one follower and a leader whose write is not durable are no majority (committed ${a.raft.committed})`);
      deliver(rd.messages, cc);
      deliver(followerRound(cc), a);
      assert.equal(a.raft.committed, x.index, "both followers durable: a majority without the leader");
      a.completeReady(rd);
      c.settle();
      for (const n of [a, b, cc]) assert.deepEqual(n.sm.data(), ["x"], n.id);
    });

    it("while its write is in flight, a leader sends what is proposed meanwhile (takeLeaderMessages); a crash before its write is durable loses nothing it counted", () => {
      const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
      c.elect("a");
      const [a, b] = [c.node("a"), c.node("b")];
      a.raft.propose(bytes("x"));
      const rd = a.takeReady()!;
      assert.deepEqual(a.raft.takeLeaderMessages().filter((m) => m.body.case === "appendEntriesRequest" && m.body.value.entries.length > 0), [], "nothing new yet");
      const y = a.raft.propose(bytes("y"));
      const early = a.raft.takeLeaderMessages();
      const toB = early.filter((m) => m.to === "b" && m.body.case === "appendEntriesRequest");
      assert.ok(toB.some((m) => m.body.case === "appendEntriesRequest" && m.body.value.entries.some((e) => Number(e.index) === y.index)), "y goes to b before a's write of x is durable");
      assert.equal(a.takeReady(), undefined, "no second Ready before advance");
      // b gets x and y and acknowledges; a crashes before its write is durable.
      deliver(rd.messages, b);
      deliver(early, b);
      deliver(followerRound(b), a);
      assert.ok(a.raft.committed < y.index - 1, `a never counted itself for x or y (committed ${a.raft.committed})`);
      c.crash("a");
      assert.equal(a.storage.lastIndex(), y.index - 2, "a's disk has neither x nor y");
      // b (which has both) is elected with c; they commit x and y; a comes back and catches up.
      campaignUntilLeader(c, "b");
      c.restart("a");
      c.tickAll(3);
      for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["x", "y"], n.id);
      checkLogMatching([...c.nodes.values()]);
    });

    it("a follower whose write runs answers appends arriving one per proposal with one `writing` copy per tick and read round, and acknowledges them with one answer", () => {
      const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
      c.elect("a");
      const [a, b] = [c.node("a"), c.node("b")];
      const toB = (msgs: RaftMessage[]) => msgs.filter((m) => m.to === "b");
      const writing = (msgs: RaftMessage[]) => msgs.filter((m) => m.body.case === "appendEntriesResponse" && m.body.value.writing);
      a.raft.propose(bytes("x"));
      const rdA = a.takeReady()!;
      deliver(toB(rdA.messages), b);
      const rdB = b.takeReady()!; // b's write of x runs from here on
      const later: RaftMessage[] = [];
      let copies = 0;
      const ys: number[] = [];
      for (let i = 0; i < 5; i++) {
        ys.push(a.raft.propose(bytes(`y${i}`)).index);
        deliver(toB(a.raft.takeLeaderMessages()), b);
        const now = b.raft.takeFollowerAcks();
        copies += writing(now).length;
        later.push(...now.filter((m) => !(m.body.case === "appendEntriesResponse" && m.body.value.writing)));
      }
      assert.equal(copies, 1, "five appends within one tick: one `writing` copy");
      b.raft.tick();
      const y5 = a.raft.propose(bytes("y5")).index;
      deliver(toB(a.raft.takeLeaderMessages()), b);
      assert.equal(writing(b.raft.takeFollowerAcks()).length, 1, "the next tick: another copy (liveness for check quorum)");
      ys.push(y5);
      // b's write of x is durable: its answer goes; its next Ready writes y0..y5 and answers them once.
      deliver(b.completeReady(rdB), a);
      const rdB2 = b.takeReady()!;
      assert.deepEqual(rdB2.entries.map((e) => Number(e.index)), ys);
      const acks = rdB2.messages.filter((m) => m.body.case === "appendEntriesResponse");
      assert.equal(acks.length, 1, `one acknowledgement for six appends (got ${acks.length})`);
      assert.ok(acks[0]!.body.case === "appendEntriesResponse" && Number(acks[0]!.body.value.index) === y5 && acks[0]!.body.value.success);
      assert.deepEqual(later, [], "nothing that acknowledges entries being written went early");
      deliver(b.completeReady(rdB2), a);
      a.completeReady(rdA);
      c.settle();
      assert.equal(a.raft.committed, y5);
      for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["x", "y0", "y1", "y2", "y3", "y4", "y5"], n.id);
    });

    it("a leader elected while the Ready carrying its term is not yet advanced sends nothing early", () => {
      const c = new TestCluster(["a", "b", "c"], { preVote: false, checkQuorum: false });
      c.elect("a");
      const [b, cc] = [c.node("b"), c.node("c")];
      b.raft.campaign();
      const rd = b.takeReady()!;
      assert.ok(rd.hardState && rd.messages.some((m) => m.body.case === "voteRequest"));
      const requests = b.persistReady(rd); // term and vote durable, Ready not yet advanced
      deliver(requests, cc);
      deliver(followerRound(cc), b);
      assert.equal(b.raft.role, RaftRole.Leader);
      b.raft.propose(bytes("z"));
      assert.deepEqual(b.raft.takeLeaderMessages(), [], "its term is not known durable until advance");
      b.applyReady(rd);
      c.settle();
      for (const n of c.nodes.values()) assert.deepEqual(n.sm.data(), ["z"], n.id);
    });
  });
});
