import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KvWorkload } from "./kv-workload.js";
import { runSeed, seeds } from "./seeds.js";
import { Simulation, type SimOptions } from "./simulation.js";

describe("A KV state machine on the Raft core, under simulated faults", () => {
  for (const members of [3, 5]) {
    it(`${members} members: concurrent put/get/cas histories (reads by ReadIndex) are linearizable`, () => {
      let writes = 0;
      let reads = 0;
      for (const seed of seeds(25)) {
        const options: SimOptions = { seed, members };
        const workload = new KvWorkload();
        runSeed(options, () => new Simulation(options, workload), (s) => s.run());
        writes += workload.completed.writes;
        reads += workload.completed.reads;
      }
      assert.ok(writes > 0 && reads > 0, `completed ${writes} writes and ${reads} reads`);
    });
  }

  it("5 members under heavy churn and membership changes, 6 concurrent clients: linearizable", () => {
    let operations = 0;
    for (const seed of seeds(20)) {
      const options: SimOptions = {
        seed,
        members: 5,
        crashEveryMs: 60,
        partitionEveryMs: 80,
        drop: 0.1,
        reorder: 0.2,
        chaosMs: 3000,
        membershipEveryMs: 100,
      };
      const workload = new KvWorkload(6);
      runSeed(options, () => new Simulation(options, workload), (s) => s.run());
      operations += workload.history.length;
    }
    assert.ok(operations > 0);
  });
});
