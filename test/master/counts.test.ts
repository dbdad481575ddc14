/**
 * Property test: the master's incremental counts (tasks per state, agents and frameworks
 * by state, resources total/used/offered) equal a full recount of its records after every
 * step of a random run of launches, status updates, agents joining, going silent,
 * reregistering and unregistering, frameworks subscribing, failing and being torn down.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { DeclineRequestSchema, TeardownRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { UnregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { Random } from "../../src/runtime/random.js";
import { Code, type DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";
import { incrementalTally, recountMaster } from "../support/master-recount.js";
import { testSeed } from "../support/seed.js";

const STATES = [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED, TaskState.FAILED, TaskState.KILLED, TaskState.LOST];

async function randomRun(seed: number, steps: number): Promise<void> {
  const r = new Random(seed);
  const c = await Cluster.start({ agents: 3, agentResources: "cpus:4;mem:4096;disk:1000", seed, agentPingTimeoutMs: 1000, maxAgentPingTimeouts: 2 });
  const schedulers: Scheduler[] = [];
  const tasks: { s: Scheduler; id: string }[] = [];
  let next = 0;
  const pick = <T>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[r.int(xs.length)]);
  const steps_: Record<string, () => Promise<void>> = {
    subscribe: async () => void schedulers.push(await c.subscribe(`fw${next++}`, { partitionAware: r.int(2) === 0, failoverTimeout: 5 })),
    launch: async () => {
      await c.allocate();
      const s = pick(schedulers);
      const offer = s && pick(s.sink.offers());
      if (!s || !offer) return;
      s.sink.clear();
      const id = `t${next++}`;
      tasks.push({ s, id });
      await c.launch(s, [offer], [commandTask(id, "cpus:0.5;mem:64;disk:10")]);
    },
    update: async () => {
      const t = pick(tasks);
      const agent = pick(c.agents);
      if (t && agent) agent.update(t.s.frameworkId, t.id, pick(STATES)!);
    },
    decline: async () => {
      const s = pick(schedulers);
      const offers = s?.sink.offers() ?? [];
      if (!s || offers.length === 0) return;
      s.sink.clear();
      // The sink keeps offers rescinded since: those are answered NOT_FOUND, the rest declined.
      await c.facade
        .decline(create(DeclineRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, offerIds: offers.map((o) => o.id!) }))
        .catch((e: DcosError) => assert.equal(e.code, Code.NOT_FOUND, e.message));
    },
    addAgent: async () => void (await c.addAgent(`extra${next++}`, "cpus:2;mem:2048;disk:500")),
    silence: async () => {
      const a = pick(c.agents);
      if (a) a.answerPings = !a.answerPings;
    },
    time: async () => c.clock.advance(500 + r.int(3000)),
    reregister: async () => pick(c.agents.filter((a) => a.agentId))?.reregister(),
    unregister: async () => {
      const a = pick(c.agents.filter((x) => x.agentId));
      a?.tell(create(UnregisterAgentSchema, { agentId: { value: a.agentId } }));
    },
    teardown: async () => {
      const s = pick(schedulers);
      if (!s) return;
      schedulers.splice(schedulers.indexOf(s), 1);
      await c.facade.teardown(create(TeardownRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId })).catch(() => undefined);
    },
  };
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
