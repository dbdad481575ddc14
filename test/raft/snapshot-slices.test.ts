import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClientSessions } from "../../src/raft/client-sessions.js";
import { RaftNodeState } from "../../src/raft/raft-node.js";
import { ListMachine, PiecesListMachine, SimRaftCluster, StepsListMachine, bytes, type Member } from "../support/raft-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(18);

/**
 * Snapshots taken off the event loop's critical path (RaftNode.maybeCompact): the machine
 * hands out a view as of the applied index and its encoding is drawn a slice at a time,
 * here one piece per slice with a pause on the clock between slices, so that entries
 * arrive, are applied and answered while a snapshot is being taken.
 */
const SLOW = { pieces: 1, ms: Number.POSITIVE_INFINITY, pauseMs: 20 };

function snapIndex(m: Member<PiecesListMachine>): number {
  return Number(m.storage.snapshot().metadata?.index ?? 0n);
}

/** The items a member's stored snapshot restores to. */
function restored(m: Member<PiecesListMachine>): string[] {
  const sessions = new ClientSessions(new ListMachine());
  sessions.restore(m.storage.snapshot().data);
  return sessions.machine.items;
}

describe(`RaftNode snapshots and applies in slices (seed ${SEED})`, () => {
  it("goes on applying and answering proposals while a snapshot is encoded, and the snapshot holds exactly the state at its index", async () => {
    const c = await SimRaftCluster.start(SEED, () => new PiecesListMachine(), { extra: { snapshotEntries: 30, catchUpEntries: 5, snapshotSlice: SLOW } });
    const leader = await c.waitForLeader();
    const term = leader.node.status().term;
    for (let i = 0; i < 30; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`a${i}`)))).ok);
    // The snapshot has started (30 applied) and takes ~32 slices of 20 ms: propose through it.
    assert.ok(leader.node.machine.drawnAt.length > 0, "a snapshot started");
    assert.equal(snapIndex(leader), 0, "and is not written yet");
    for (let i = 0; i < 20; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`b${i}`)))).ok, `proposal b${i} answered during the snapshot`);
    await c.clock.advanceUntil(() => c.up().every((m) => snapIndex(m) > 0), 10_000);
    const drawn = leader.node.machine.drawnAt;
    assert.ok(drawn[drawn.length - 1]! > drawn[0]!, `entries were applied while the snapshot was drawn (lengths ${drawn[0]} .. ${drawn[drawn.length - 1]})`);
    for (const m of c.up()) {
      const index = snapIndex(m);
      assert.deepEqual(restored(m), m.node.machine.itemsAt(index), `${m.address}: the snapshot at ${index} holds the state as of ${index}`);
      assert.ok(restored(m).length >= 20 && restored(m).length < 50, `${m.address}: taken at about 30 applied, not at the end (${restored(m).length} items)`);
    }
    assert.equal(leader.node.status().term, term, "the leader kept its term");
    assert.equal(c.leaders().length, 1);
    // A member restarted from its files (the snapshot and the log above it) has every item.
    const follower = c.up().find((m) => m !== leader)!;
    await c.crash(follower.address);
    const back = await c.startMember(follower.address);
    await c.clock.advanceUntil(() => back.node.machine.items.length === 50, 10_000);
    assert.deepEqual(back.node.machine.items, leader.node.machine.items);
    await c.stop();
  });

  it("restarts a member that crashed in the middle of a snapshot from its older state, losing nothing", async () => {
    const c = await SimRaftCluster.start(SEED, () => new PiecesListMachine(), { extra: { snapshotEntries: 20, catchUpEntries: 5, snapshotSlice: SLOW } });
    const leader = await c.waitForLeader();
    for (let i = 0; i < 20; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`a${i}`)))).ok);
    await c.clock.advanceUntil(() => c.up().every((m) => snapIndex(m) > 0), 10_000);
    const first = snapIndex(leader);
    for (let i = 0; i < 25; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`b${i}`)))).ok);
    // The second snapshot is being drawn on every member: crash one in its middle (and the unsynced bytes are lost).
    const victim = c.up().find((m) => m !== leader)!;
    await c.clock.advanceUntil(() => victim.node.machine.drawnAt.length > 30, 5_000);
    const drawing = victim.node.machine.drawnAt.length;
    assert.equal(snapIndex(victim), first, `the victim's second snapshot is still being drawn (${drawing} pieces)`);
    await c.crash(victim.address, (_path, n) => Math.floor(n / 2));
    assert.ok((await c.settleOn(leader.api.propose(bytes("while-down")))).ok);
    const back = await c.startMember(victim.address);
    assert.equal(snapIndex(back), first, "restarted from the snapshot it had before the crash");
    await c.clock.advanceUntil(() => back.node.machine.items.includes("while-down"), 10_000);
    assert.deepEqual(back.node.machine.items, leader.node.machine.items);
    assert.equal(back.node.machine.items.length, 46);
    // It snapshots again once it has applied enough, and that one restores too.
    await c.clock.advanceUntil(() => snapIndex(back) > first, 10_000);
    assert.deepEqual(restored(back), back.node.machine.itemsAt(snapIndex(back)));
    await c.stop();
  });

  it("drops its own snapshot, without failing, when it installed a newer one from the leader while drawing it", async () => {
    const c = await SimRaftCluster.start(SEED, () => new PiecesListMachine(), { extra: { snapshotEntries: 20, catchUpEntries: 2, snapshotSlice: { ...SLOW, pauseMs: 0 } } });
    let leader = await c.waitForLeader();
    const f = c.up().find((m) => m !== leader)!.address;
    // This member draws its snapshots very slowly: one piece a second.
    await c.crash(f);
    await c.startMember(f, { snapshotSlice: { ...SLOW, pauseMs: 1_000 } });
    leader = await c.waitForLeader();
    for (let i = 0; i < 21; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`a${i}`)))).ok);
    await c.clock.advanceUntil(() => c.member(f).node.machine.drawnAt.length > 0, 5_000);
    c.net.isolate(f);
    for (let i = 0; i < 50; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`b${i}`)))).ok);
    await c.clock.advanceUntil(() => leader.storage.firstIndex() > 30, 10_000);
    assert.equal(snapIndex(c.member(f)), 0, "its own snapshot is still being drawn");
    c.net.heal();
    await c.clock.advanceUntil(() => snapIndex(c.member(f)) > 30, 10_000);
    const installed = snapIndex(c.member(f));
    // Its own snapshot (at ~22) finishes later and is dropped: the storage is past it.
    await c.clock.advance(40_000);
    const member = c.member(f);
    assert.equal(member.node.status().state, RaftNodeState.Running);
    assert.ok(snapIndex(member) >= installed);
    assert.deepEqual(member.node.machine.items, leader.node.machine.items);
    assert.equal(member.node.machine.items.length, 71);
    assert.ok((await c.settleOn(leader.api.propose(bytes("after")))).ok);
    await c.clock.advanceUntil(() => member.node.machine.items.includes("after"), 5_000);
    await c.stop();
  });

  it("restores a leader's snapshot a slice at a time: the follower keeps its term and answers, its machine and applied index move only at the last slice, entries after the snapshot follow in order", async () => {
    const c = await SimRaftCluster.start(SEED, () => new StepsListMachine(), { extra: { snapshotEntries: 20, catchUpEntries: 2, snapshotSlice: { ...SLOW, pauseMs: 50 } } });
    let leader = await c.waitForLeader();
    const f = c.up().find((m) => m !== leader)!.address;
    for (let i = 0; i < 5; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`a${i}`)))).ok);
    c.net.isolate(f);
    for (let i = 0; i < 40; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`b${i}`)))).ok);
    await c.clock.advanceUntil(() => leader.storage.firstIndex() > 10, 10_000);
    leader = await c.waitForLeader();
    const term = leader.node.status().term;
    const member = c.member(f);
    const before = member.node.status().applied;
    c.net.heal();
    // The snapshot reaches f; its restore takes one 50-ms slice per item.
    await c.clock.advanceUntil(() => snapIndex(member) > 10, 10_000);
    const installed = snapIndex(member);
    assert.ok(member.node.status().applied < installed, `applied (${member.node.status().applied}) waits for the restore of ${installed}`);
    assert.ok(member.node.status().applied >= before);
    for (let i = 0; i < 3; i++) assert.ok((await c.settleOn(leader.api.propose(bytes(`c${i}`)))).ok, `c${i} committed while f restores`);
    await c.clock.advanceUntil(() => member.node.machine.items.length === 48, 10_000);
    const steps = member.node.machine.restoringAt;
    assert.ok(steps.length >= 10, `restored in ${steps.length} steps`);
    assert.ok(steps.every((n) => n === steps[0]), `the machine kept its old state through the steps (${steps[0]} items)`);
    assert.deepEqual(member.node.machine.items, leader.node.machine.items);
    assert.equal(member.node.status().applied, leader.node.status().applied);
    assert.equal(leader.node.status().term, term, "the leader kept its term");
    assert.equal(c.leaders().length, 1);
    await c.stop();
  });

  it("applies a burst of committed entries a slice at a time, in order, answering each proposal", async () => {
    const c = await SimRaftCluster.start(SEED, () => new PiecesListMachine(), { extra: { applySlice: { entries: 1 } } });
    const leader = await c.waitForLeader();
    await c.clock.advance(300);
    // On the leader, each proposal is answered when its entry is applied; with slices the
    // answers go out between slices, before the later entries of the burst are applied.
    let answered = 0;
    const answeredAtApply: number[] = [];
    leader.node.machine.onApply = () => answeredAtApply.push(answered);
    const answers = Array.from({ length: 40 }, (_, i) => leader.api.propose(bytes(`burst ${i}`)));
    for (const a of answers) void a.then(() => answered++);
    const all = Promise.all(answers);
    let done = false;
    void all.then(() => (done = true));
    await c.clock.advanceUntil(() => done, 10_000, 1);
    const results = (await all).map((r) => new TextDecoder().decode(r));
    assert.deepEqual(results, Array.from({ length: 40 }, (_, i) => String(i + 1)), "each proposal answered with its own position");
    await c.clock.advance(500);
    for (const m of c.up()) assert.deepEqual(m.node.machine.items, Array.from({ length: 40 }, (_, i) => `burst ${i}`), m.address);
    assert.equal(answeredAtApply.length, 40);
    assert.ok(answeredAtApply[39]! >= 30, `earlier proposals were answered before the last entries were applied (${answeredAtApply.join(",")})`);
    await c.stop();
  });
});
