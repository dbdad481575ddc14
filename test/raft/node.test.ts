import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Pid } from "../../src/runtime/pid.js";
import { RaftRole } from "../../src/raft/core/ready.js";
import { ListMachine, SimRaftCluster, bytes, str } from "../support/raft-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(11);

async function cluster(extra = {}) {
  return SimRaftCluster.start(SEED, () => new ListMachine(), { extra });
}

function items(c: SimRaftCluster<ListMachine>, address: string): string[] {
  return c.member(address).node.machine.items;
}

describe(`RaftNode on the simulated network (seed ${SEED})`, () => {
  it("elects one leader and applies a proposal on every member, returning the machine's result", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    const r = await c.settleOn(leader.api.propose(bytes("a")));
    assert.ok(r.ok, `proposal failed: ${String(!r.ok && r.error)}`);
    assert.equal(str(r.value), "1");
    await c.clock.advance(500);
    for (const a of c.addresses) assert.deepEqual(items(c, a), ["a"], a);
    await c.stop();
  });

  it("refuses a proposal on a follower with UNAVAILABLE naming the leader's pid", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const follower = c.up().find((m) => m !== leader)!;
    await assert.rejects(follower.api.propose(bytes("x")), (e: unknown) => {
      assert.ok(DcosError.is(e, Code.UNAVAILABLE));
      assert.equal(e.details.leader, leader.node.self.toString());
      assert.ok(Pid.parse(e.details.leader!).equals(leader.node.self));
      return true;
    });
    await c.stop();
  });

  it("reports a command the machine refuses as the proposer's error, and goes on", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    const bad = await c.settleOn(leader.api.propose(bytes("fail")));
    assert.ok(!bad.ok && DcosError.is(bad.error, Code.INVALID_ARGUMENT), String(!bad.ok && bad.error));
    const good = await c.settleOn(leader.api.propose(bytes("b")));
    assert.ok(good.ok);
    await c.stop();
  });

  it("applies a retried proposal with the same client id and sequence once, returning the first result", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    const id = { client: "client-1", sequence: 1 };
    const first = await c.settleOn(leader.api.propose(bytes("once"), id));
    const again = await c.settleOn(leader.api.propose(bytes("once"), id));
    assert.ok(first.ok && again.ok);
    assert.equal(str(again.value), str(first.value));
    await c.clock.advance(300);
    for (const a of c.addresses) assert.deepEqual(items(c, a), ["once"], a);
    await c.stop();
  });

  it("answers proposals pending when the leader steps down UNAVAILABLE at once (not at their deadline), and never applies them (fault-tolerance hole 6)", async () => {
    const c = await cluster();
    const old = await c.waitForLeader();
    await c.clock.advance(300);
    c.net.isolate(old.address);
    const errors: unknown[] = [];
    for (let i = 0; i < 3; i++) old.api.propose(bytes(`lost-${i}`)).then(() => errors.push("applied"), (e: unknown) => errors.push(e));
    // CheckQuorum steps the cut-off leader down within an election timeout or two, long before the 30 s deadline.
    await c.clock.advanceUntil(() => old.node.status().role !== RaftRole.Leader, 3_000);
    await c.clock.advanceUntil(() => errors.length === 3, 100);
    for (const e of errors) {
      assert.ok(DcosError.is(e, Code.UNAVAILABLE), `expected UNAVAILABLE, got ${String(e)}`);
      assert.equal(e.details.reason, "not_leader");
      assert.match(e.message, /stepped down before the proposal was applied; its outcome is unknown \(retry with the same ProposalId/);
    }
    assert.equal(old.system.metrics.snapshot()["raft/proposals_failed_at_step_down"], 3);
    await c.clock.advanceUntil(() => c.leaders().some((l) => l !== old), 10_000);
    const fresh = c.leaders().find((l) => l !== old)!;
    assert.ok((await c.settleOn(fresh.api.propose(bytes("kept-1")))).ok);
    c.net.heal();
    // The old leader's three entries sit at positions the new leader fills with its no-op and proposals.
    assert.ok((await c.settleOn(fresh.api.propose(bytes("kept-2")))).ok);
    await c.clock.advance(1000);
    for (const a of c.addresses) assert.deepEqual(items(c, a), ["kept-1", "kept-2"], a);
    await c.stop();
  });

  it("loses no acknowledged proposal when the leader crashes with an unsynced tail, and applies each once", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    const acked: string[] = [];
    const inflight = Array.from({ length: 30 }, (_, i) => leader.api.propose(bytes(`v${i}`)).then(() => acked.push(`v${i}`), () => undefined));
    await c.clock.advanceUntil(() => acked.length >= 10, 5_000, 1);
    await c.crash(leader.address, (_p, n) => Math.floor(n / 2));
    void Promise.all(inflight);
    const next = await c.waitForLeader();
    const after = await c.settleOn(next.api.propose(bytes("after")));
    assert.ok(after.ok);
    acked.push("after");
    await c.startMember(leader.address);
    await c.clock.advance(3_000);
    for (const a of c.addresses) {
      const got = items(c, a);
      for (const v of acked) assert.ok(got.includes(v), `${a} lost acknowledged ${v}`);
      assert.equal(new Set(got).size, got.length, `${a} applied something twice: ${got.join(",")}`);
    }
    assert.deepEqual(items(c, "m1"), items(c, "m2"));
    assert.deepEqual(items(c, "m2"), items(c, "m3"));
    await c.stop();
  });

  it("serves linearizable reads through ReadIndex on the leader, and refuses them on a follower", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.settleOn(leader.api.propose(bytes("r1")));
    const read = await c.settleOn(leader.api.read((m) => m.items.slice()));
    assert.ok(read.ok);
    assert.deepEqual(read.value, ["r1"]);
    const follower = c.up().find((m) => m !== leader)!;
    await assert.rejects(follower.api.read((m) => m.items), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE));
    await c.stop();
  });

  it("fails a read on a leader cut off from the majority instead of serving stale state", async () => {
    const c = await cluster();
    const old = await c.waitForLeader();
    await c.clock.advance(300);
    c.net.isolate(old.address);
    const stale = c.settleOn(old.api.read((m) => m.items.slice()), 20_000);
    await c.clock.advanceUntil(() => c.leaders().some((l) => l !== old), 10_000);
    const fresh = c.leaders().find((l) => l !== old)!;
    await c.settleOn(fresh.api.propose(bytes("new")));
    const r = await stale;
    assert.ok(!r.ok && DcosError.is(r.error, Code.UNAVAILABLE), `stale read must fail, got ${JSON.stringify(r)}`);
    await c.stop();
  });

  it("notifies leader-change listeners with the new leader's pid and term", async () => {
    const c = await cluster();
    const seen: string[] = [];
    for (const m of c.up()) m.api.onLeaderChange((leader, term) => seen.push(`${m.address}:${leader?.toString() ?? "-"}@${term}`));
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const term = leader.node.status().term;
    for (const a of c.addresses) assert.ok(seen.includes(`${a}:${leader.node.self.toString()}@${term}`), `${a} was told (${seen.join(" ")})`);
    await c.stop();
  });

  it("snapshots and compacts the log, and catches up a restarted member from the snapshot", async () => {
    const c = await cluster({ snapshotEntries: 20, catchUpEntries: 5 });
    let leader = await c.waitForLeader();
    const lagging = c.up().find((m) => m !== leader)!.address;
    await c.crash(lagging);
    for (let i = 0; i < 60; i++) {
      const r = await c.settleOn(leader.api.propose(bytes(`s${i}`)));
      assert.ok(r.ok);
    }
    await c.clock.advance(500);
    assert.ok(leader.storage.firstIndex() > 20, `leader compacted (first index ${leader.storage.firstIndex()})`);
    await c.startMember(lagging);
    await c.clock.advance(3_000);
    leader = await c.waitForLeader();
    assert.deepEqual(items(c, lagging), items(c, leader.address));
    assert.equal(items(c, lagging).length, 60);
    assert.ok(c.member(lagging).node.status().applied >= 61);
    assert.equal(c.member(lagging).node.status().role, RaftRole.Follower);
    await c.stop();
  });
});

describe(`RaftNode group commit and storage failure (seed ${SEED})`, () => {
  it("puts proposals that arrive while an fsync runs into the next single fsync", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const fs = c.files(leader.address);
    fs.holdSyncs();
    const first = leader.api.propose(bytes("first"));
    await c.clock.settle();
    const before = fs.syncs;
    const rest = Array.from({ length: 99 }, (_, i) => leader.api.propose(bytes(`p${i}`)));
    await c.clock.settle();
    fs.release();
    const all = await c.settleOn(Promise.all([first, ...rest]));
    assert.ok(all.ok);
    assert.equal(fs.syncs - before, 2, "the held fsync, then one fsync for the 99 queued behind it");
    await c.stop();
  });

  it("answers a proposal its followers alone committed while the leader's own fsync is held (Raft thesis 10.2.1), and a leader crash then loses nothing", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const fs = c.files(leader.address);
    fs.holdSyncs();
    const syncsBefore = fs.syncs;
    const x = await c.settleOn(leader.api.propose(bytes("x")));
    assert.ok(x.ok, "answered with the leader's write still held");
    assert.equal(fs.syncs, syncsBefore, "the leader's fsync did not complete");
    assert.deepEqual(items(c, leader.address), ["x"]);
    // A proposal made meanwhile went to the followers before the held write finished, too.
    const y = await c.settleOn(leader.api.propose(bytes("y")));
    assert.ok(y.ok);
    await c.crash(leader.address); // its unsynced x and y are lost from its disk
    const next = await c.waitForLeader();
    const z = await c.settleOn(next.api.propose(bytes("z")));
    assert.ok(z.ok);
    await c.startMember(leader.address);
    await c.clock.advance(3_000);
    for (const a of c.addresses) assert.deepEqual(items(c, a), ["x", "y", "z"], a);
    await c.stop();
  });

  it("keeps its leader while the followers' fsyncs are held for seconds: they answer heartbeats during the write, and acknowledge the entries only once durable", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const term = leader.node.status().term;
    const followers = c.up().filter((m) => m !== leader);
    for (const f of followers) c.files(f.address).holdSyncs();
    let outcome: string | undefined;
    leader.api.propose(bytes("slow disk")).then(() => (outcome = "applied"), (e: unknown) => (outcome = String(e)));
    // Five election timeouts with both followers' writes of the entry still running.
    await c.clock.advance(5_000);
    assert.equal(outcome, undefined, "not committed: no follower has the entry on disk yet");
    assert.equal(leader.node.status().role, RaftRole.Leader, "the leader did not step down (check quorum heard the followers)");
    assert.equal(leader.node.status().term, term);
    assert.equal(leader.system.metrics.value("raft/check_quorum_step_downs"), 0);
    for (const f of followers) f && c.files(f.address).release();
    await c.clock.advanceUntil(() => outcome !== undefined, 5_000);
    assert.equal(outcome, "applied");
    assert.equal(leader.node.status().term, term);
    await c.stop();
  });

  it("grants no vote before the term and vote are on disk: with one voter's fsync held, no leader can be elected", async () => {
    const c = await cluster();
    const old = await c.waitForLeader();
    await c.clock.advance(300);
    const [held, other] = c.up().filter((m) => m !== old);
    const termBefore = old.node.status().term;
    await c.crash(old.address);
    c.files(held!.address).holdSyncs();
    await c.clock.advance(5_000);
    assert.deepEqual(c.leaders(), [], "a vote was counted before it was durable");
    assert.ok(Math.max(held!.node.status().term, other!.node.status().term) > termBefore, "an election was started");
    c.files(held!.address).release();
    const leader = await c.waitForLeader();
    assert.ok(leader === held || leader === other);
    await c.stop();
  });

  it("fails a proposal whose outcome stays unknown past the deadline with DEADLINE_EXCEEDED", async () => {
    // Shorter than the CheckQuorum step-down (an election timeout), which would answer first.
    const c = await cluster({ proposalTimeoutMs: 200 });
    const old = await c.waitForLeader();
    await c.clock.advance(300);
    c.net.isolate(old.address);
    const r = await c.settleOn(old.api.propose(bytes("limbo")), 10_000);
    assert.ok(!r.ok && DcosError.is(r.error, Code.DEADLINE_EXCEEDED), String(!r.ok && r.error));
    assert.match((r as { error: Error }).error.message, /outcome is unknown/);
    await c.stop();
  });

  it("hands leadership to the member asked for", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    const target = c.up().find((m) => m !== leader)!;
    await c.settleOn(leader.api.transferLeadership(target.node.self));
    await c.clock.advanceUntil(() => target.node.status().role === RaftRole.Leader, 3_000);
    assert.ok((await c.settleOn(target.api.propose(bytes("after-transfer")))).ok);
    await c.stop();
  });

  it("stops with every waiting proposal failed UNAVAILABLE when its storage fails", async () => {
    const c = await cluster();
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    c.files(leader.address).failSyncs(new Error("EIO: i/o error"));
    const r = await c.settleOn(leader.api.propose(bytes("doomed")));
    assert.ok(!r.ok && DcosError.is(r.error, Code.UNAVAILABLE), String(!r.ok && r.error));
    assert.match((r as { error: Error }).error.message, /EIO/);
    assert.equal(leader.node.status().state, "failed");
    await assert.rejects(leader.api.propose(bytes("after")), (e: unknown) => DcosError.is(e, Code.UNAVAILABLE));
    await c.stop();
  });
});
