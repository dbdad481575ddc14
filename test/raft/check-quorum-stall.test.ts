import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftRole } from "../../src/raft/core/ready.js";
import { ListMachine, SimRaftCluster } from "../support/raft-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(23);
const TICK_MS = 100;
const ELECTION_TICKS = 10;

/**
 * Check quorum after a stall of the leader's loop (issue 18): the followers were silent
 * toward the leader for most of an election timeout (their answers slow to arrive: a busy
 * or descheduled follower, a congested link), then their answers reach the leader while a
 * long turn holds its loop, and the leader's tick falls due in that same turn. Node runs the
 * due timers before it reads the sockets, so the tick (the one that checks the quorum) was
 * handled before answers already received; the leader stepped down on a quorum it had.
 */
describe(`Check quorum after a stall of the leader's loop (seed ${SEED})`, () => {
  it("counts the followers' answers that arrived in the same turn as the checking tick, and keeps its term", async () => {
    const c = await SimRaftCluster.start(SEED, () => new ListMachine(), {
      extra: { tickMs: TICK_MS, electionTicks: ELECTION_TICKS, heartbeatTicks: 1 },
      stallable: true,
    });
    // When each member became leader (by the clock), to know when its quorum checks come.
    const electedAt = new Map<string, number>();
    for (const m of c.up()) m.node.onLeaderChange((leader) => {
      if (leader?.equals(m.node.self)) electedAt.set(m.address, c.clock.now());
    });
    const leader = await c.waitForLeader();
    const term = leader.node.status().term;
    await c.clock.advance(0);
    const elected = electedAt.get(leader.address);
    assert.ok(elected !== undefined, "the leader's election was seen");
    // Every member's ticks fall on multiples of the tick (all started at 0 on the manual
    // clock); an election ends between ticks (a vote's hop), and the leader checks the
    // quorum on every ELECTION_TICKS-th tick after it.
    assert.notEqual(elected % TICK_MS, 0, `the leader was elected at ${elected}, on a tick`);
    const firstTick = Math.ceil(elected / TICK_MS) * TICK_MS;
    let check = firstTick + (ELECTION_TICKS - 1) * TICK_MS;
    while (check - ELECTION_TICKS * TICK_MS < c.clock.now() + 2 * TICK_MS) check += ELECTION_TICKS * TICK_MS;
    const previous = check - ELECTION_TICKS * TICK_MS;
    const followers = c.up().filter((m) => m !== leader);
    const stepDowns = () => leader.system.metrics.value("raft/check_quorum_step_downs");
    assert.equal(stepDowns(), 0);

    // Just before the previous check: from now on the followers' answers take 950 ms to
    // reach the leader, so none arrives between that check and 49 ms before the next.
    await c.clock.advance(previous - TICK_MS / 2 - c.clock.now());
    for (const f of followers) c.net.setFaults({ minDelayMs: 950, maxDelayMs: 950 }, f.address, leader.address);
    // The leader's loop is held from 60 ms before the next check to 10 ms after it: the
    // answers (due 49 ms before it) and the checking tick both wait for the same turn's end.
    await c.clock.advance(check - 60 - c.clock.now());
    const stall = c.stall(leader.address);
    stall.hold();
    await c.clock.advance(70);
    for (const f of followers) c.net.setFaults({ minDelayMs: 1, maxDelayMs: 1 }, f.address, leader.address);
    const released = stall.release();
    assert.equal(released.timers >= 1 && released.messages >= 2, true, `held ${JSON.stringify(released)}: the tick and both followers' answers`);
    await c.clock.settle();

    assert.equal(stepDowns(), 0, "the leader stepped down by check quorum on answers it had received");
    assert.equal(leader.node.status().role, RaftRole.Leader);
    // And it goes on leading: more than an election timeout later, same term, same leader.
    await c.clock.advance(3 * ELECTION_TICKS * TICK_MS);
    assert.equal(leader.node.status().role, RaftRole.Leader);
    assert.equal(leader.node.status().term, term);
    assert.equal(stepDowns(), 0);
    await c.stop();
  });
});
