import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftRole } from "../../src/raft/core/ready.js";
import { Pid } from "../../src/runtime/pid.js";
import { ListMachine, SimRaftCluster } from "../support/raft-cluster.js";
import { probe, Recorder } from "../support/actors.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(29);
const TICK_MS = 100;
const ELECTION_TICKS = 10;

/**
 * A leader whose event loop is held in its I/O callbacks (issue 18, session 9: at 50,000
 * agents a burst of framework calls and agents' frames read in one poll phase held the
 * leader's loop 1-2 s with no timer and no drain run): its Raft tick falls due and waits,
 * while other nodes' messages still reach it. Each delivery runs the raft actor's overdue
 * tick (ActorSystem's pulse), so the heartbeats go out and the followers, whose loops run,
 * do not elect.
 */
describe(`A leader held in I/O callbacks (seed ${SEED})`, () => {
  it("keeps sending heartbeats from the deliveries, and keeps its term through a hold of three election timeouts", async () => {
    const c = await SimRaftCluster.start(SEED, () => new ListMachine(), {
      extra: { tickMs: TICK_MS, electionTicks: ELECTION_TICKS, heartbeatTicks: 1 },
      stallable: true,
    });
    const leader = await c.waitForLeader();
    const term = leader.node.status().term;
    const follower = c.up().find((m) => m !== leader)!;
    // Traffic for the leader's node from elsewhere (agents, frameworks): a probe every 50 ms.
    const sink = leader.system.spawn(new Recorder("sink"));
    const from = new Pid("agent", follower.address);
    await c.clock.settle();

    c.stall(leader.address).holdInIo();
    const holdMs = 3 * ELECTION_TICKS * TICK_MS;
    for (let t = 0; t < holdMs; t += 50) {
      follower.system.send(from, sink.self, probe(t));
      await c.clock.advance(50);
    }
    assert.ok(sink.received.length > 0, "the traffic reached the held leader");
    for (const m of c.up()) {
      assert.equal(m.node.status().term, term, `${m.address} is in term ${m.node.status().term}, the leader was elected in ${term}`);
    }
    const pulsed = leader.system.metrics.value("runtime/urgent_timers_pulsed") ?? 0;
    assert.ok(pulsed > 0, `the leader's tick ran from deliveries (${pulsed} times)`);
    assert.equal(leader.node.status().role, RaftRole.Leader);
    // What the followers' election timers saw: never an election timeout without the leader.
    for (const m of c.up().filter((x) => x !== leader)) {
      const silence = m.system.metrics.value("raft/leader_silence_max_ms") ?? 0;
      assert.ok(silence > 0 && silence < ELECTION_TICKS * TICK_MS, `${m.address} went ${silence} ms without hearing the leader`);
    }
    c.stall(leader.address).release();
    await c.clock.advance(2 * ELECTION_TICKS * TICK_MS);
    assert.equal(leader.node.status().role, RaftRole.Leader);
    assert.equal(leader.node.status().term, term);
    await c.stop();
  });
});
