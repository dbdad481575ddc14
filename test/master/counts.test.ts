/**
 * Property test: the master's incremental counts (tasks per state, agents and frameworks
 * by state, resources total/used/offered) equal a full recount of its records after every
 * step of a random run of launches, status updates, agents joining, going silent,
 * reregistering and unregistering, frameworks subscribing, failing and being torn down.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Random } from "../../src/runtime/random.js";
import { Cluster, commandTask } from "./harness.js";
import { randomSteps } from "./random-steps.js";
import { incrementalTally, recountMaster } from "../support/master-recount.js";
import { testSeed } from "../support/seed.js";

async function randomRun(seed: number, steps: number): Promise<void> {
  const r = new Random(seed);
  const c = await Cluster.start({ agents: 3, agentResources: "cpus:4;mem:4096;disk:1000", seed, agentPingTimeoutMs: 1000, maxAgentPingTimeouts: 2 });
  const { steps: steps_ } = randomSteps(c, r);
  const names = Object.keys(steps_);
  const history: string[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const name = names[r.int(names.length)]!;
      history.push(name);
      await steps_[name]!();
      await c.clock.settle();
      const core = c.master.core;
      assert.deepEqual(incrementalTally(core), recountMaster(core), `seed ${seed}, after step ${i} (${history.slice(-5).join(", ")})`);
    }
  } finally {
    await c.stop();
  }
}

describe("master: incremental counts", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`equal a full recount after every step of a random run (seed ${seed})`, async () => {
      await randomRun(testSeed(seed), 150);
    });
  }

  it("the gauges read the counts (master/tasks_running, slaves_active, cpus_used)", async () => {
    const c = await Cluster.start({ agents: 2, agentResources: "cpus:4;mem:4096" });
    try {
      const s = await c.subscribe("fw");
      await c.launch(s, [s.sink.offers()[0]!], [commandTask("a", "cpus:1;mem:128")]);
      c.agents.find((a) => a.agentId === s.sink.offers()[0]?.agentId?.value)?.update(s.frameworkId, "a", TaskState.RUNNING);
      for (const a of c.agents) a.update(s.frameworkId, "a", TaskState.RUNNING);
      await c.clock.settle();
      assert.equal(c.metric("master/tasks_running"), 1);
      assert.equal(c.metric("master/slaves_active"), 2);
      assert.equal(c.metric("master/cpus_used"), 1);
      assert.equal(c.metric("master/cpus_total"), 8);
      assert.equal(c.metric("master/frameworks_active"), 1);
    } finally {
      await c.stop();
    }
  });
});
