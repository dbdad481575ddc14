import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Random } from "../../src/runtime/random.js";
import { ListMachine, PiecesListMachine, SimRaftCluster, bytes } from "../support/raft-cluster.js";
import { replaySeed, seedCount } from "../support/seed.js";

/** DCOS_SEEDS=N runs N seeds (default 20); DCOS_SEED=S runs only seed S. */
const replay = replaySeed();
const SEEDS = replay !== undefined ? [replay] : Array.from({ length: seedCount(20) }, (_, i) => 1000 + i);

/**
 * The raft actor over durable storage on the simulated network: clients propose while
 * members crash (keeping a random torn part of what they had not synced) and restart from
 * their files, with message loss and duplication. Afterwards every acknowledged proposal
 * is applied exactly once on every member, and all members applied the same sequence.
 */
async function run(seed: number, sliced = false): Promise<void> {
  const random = new Random(seed);
  // sliced: snapshots drawn two pieces per slice with 7 ms between slices, so crashes and
  // restarts also fall in the middle of snapshots; committed entries applied one per turn.
  const c = await SimRaftCluster.start(seed, () => (sliced ? new PiecesListMachine() : new ListMachine()), {
    faults: { minDelayMs: 1, maxDelayMs: 15, drop: 0.02, duplicate: 0.02 },
    extra: { snapshotEntries: 25, catchUpEntries: 5, ...(sliced ? { snapshotSlice: { pieces: 2, ms: Number.POSITIVE_INFINITY, pauseMs: 7 }, applySlice: { entries: 1 } } : {}) },
  });
  const acked = new Set<string>();
  const down = new Set<string>();
  for (let step = 0; step < 60; step++) {
    const roll = random.next();
    if (roll < 0.1 && down.size === 0) {
      const victim = random.pick(c.addresses);
      down.add(victim);
      await c.crash(victim, (_path, n) => random.int(n + 1));
    } else if (roll < 0.2 && down.size > 0) {
      const back = [...down][0]!;
      down.delete(back);
      await c.startMember(back);
    } else {
      for (const m of c.up()) {
        for (let i = 0; i < random.between(0, 4); i++) {
          const v = `s${step}-${m.address}-${i}`;
          m.api.propose(bytes(v)).then(() => acked.add(v), () => undefined);
        }
      }
    }
    await c.clock.advance(random.between(5, 250));
  }
  for (const a of down) await c.startMember(a);
  c.net.setFaults({ drop: 0, duplicate: 0 });
  const leader = await c.waitForLeader(20_000);
  const last = await c.settleOn(leader.api.propose(bytes("final")), 20_000);
  assert.ok(last.ok, `seed ${seed}: the final proposal failed`);
  acked.add("final");
  await c.clock.advanceUntil(() => c.up().every((m) => m.node.machine.items.includes("final")), 20_000);
  const lists = c.addresses.map((a) => c.member(a).node.machine.items);
  for (const [i, list] of lists.entries()) {
    assert.equal(new Set(list).size, list.length, `seed ${seed}: ${c.addresses[i]} applied a proposal twice`);
    const missing = [...acked].filter((v) => !list.includes(v));
    assert.deepEqual(missing, [], `seed ${seed}: ${c.addresses[i]} lost acknowledged proposals`);
    assert.deepEqual(list, lists[0], `seed ${seed}: ${c.addresses[i]} applied a different sequence`);
  }
  await c.stop();
}

describe("RaftNode with crashes, torn unsynced tails and restarts (simulated)", () => {
  it(`keeps every acknowledged proposal, applied once, in the same order on every member (${SEEDS.length} seeds)`, async () => {
    for (const seed of SEEDS) {
      try {
        await run(seed);
      } catch (e) {
        throw new Error(`Failing seed ${seed} (replay: DCOS_SEED=${seed}): ${(e as Error).message}`, { cause: e });
      }
    }
  });

  it(`does so with snapshots drawn and entries applied in slices, crashes falling in their middle (${SEEDS.length} seeds)`, async () => {
    for (const seed of SEEDS) {
      try {
        await run(seed, true);
      } catch (e) {
        throw new Error(`Failing seed ${seed} (replay: DCOS_SEED=${seed}): ${(e as Error).message}`, { cause: e });
      }
    }
  });
});
