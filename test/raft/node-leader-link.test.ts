/**
 * The raft actor watches the connection to its leader (the runtime's link): a leader whose
 * node dies is replaced within a fraction of the election timeout, and a link broken
 * between one follower and a live leader deposes nobody. On the simulated network
 * (ManualClock): RaftNode's default timing, 50 ms ticks, elections after 500-1,000 ms.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftRole } from "../../src/raft/core/ready.js";
import { ListMachine, SimRaftCluster } from "../support/raft-cluster.js";
import { replaySeed, seedCount } from "../support/seed.js";

const ELECTION_MS = 500;

function seedList(fallback: number): number[] {
  const one = replaySeed();
  return one !== undefined ? [one] : Array.from({ length: seedCount(fallback) }, (_, i) => 100 + i);
}

describe("RaftNode: the connection to the leader breaks", () => {
  it("the leader's node dies: the followers see the link exit and elect within half the election timeout", async () => {
    for (const seed of seedList(12)) {
      const c = await SimRaftCluster.start(seed, () => new ListMachine());
      try {
        const old = await c.waitForLeader();
        await c.clock.advance(c.random.between(100, 400));
        const term = old.node.status().term;
        const killedAt = c.clock.now();
        await c.crash(old.address);
        const next = await c.waitForLeader(10 * ELECTION_MS);
        const ms = c.clock.now() - killedAt;
        assert.ok(next.node.status().term > term);
        assert.ok(ms < ELECTION_MS / 2, `seed ${seed} (replay with DCOS_SEED=${seed}): a new leader after ${ms} ms, not within ${ELECTION_MS / 2} ms`);
        const lost = c.up().map((m) => m.system.metrics.snapshot()["raft/leader_links_lost"] ?? 0);
        assert.ok(lost.every((n) => n >= 1), `seed ${seed}: every survivor saw its leader's link exit (${lost.join(", ")})`);
      } finally {
        await c.stop();
      }
    }
  });

  it("a partition between one follower and the leader: the leader keeps its term (the other follower still hears it)", async () => {
    for (const seed of seedList(4)) {
      const c = await SimRaftCluster.start(seed, () => new ListMachine());
      try {
        const leader = await c.waitForLeader();
        await c.clock.advance(200);
        const term = leader.node.status().term;
        const [cut, other] = c.up().filter((m) => m !== leader);
        c.net.partition([cut!.address], [leader.address]);
        await c.clock.advance(10 * ELECTION_MS);
        const where = `seed ${seed} (replay with DCOS_SEED=${seed})`;
        assert.equal(leader.node.status().role, RaftRole.Leader, `${where}: the leader still leads`);
        for (const m of c.up()) assert.equal(m.node.status().term, term, `${where}: ${m.address} is still in term ${term}`);
        assert.equal(other!.node.status().leader, leader.node.self.toString(), `${where}: the other follower follows the leader`);
        assert.ok((cut!.system.metrics.snapshot()["raft/quick_elections"] ?? 0) >= 1, `${where}: the cut-off follower saw the link exit and tried a quick pre-vote`);
        c.net.heal();
        await c.clock.advance(2 * ELECTION_MS);
        assert.equal(cut!.node.status().leader, leader.node.self.toString(), `${where}: healed, the cut-off follower follows the leader again`);
      } finally {
        await c.stop();
      }
    }
  });
});
