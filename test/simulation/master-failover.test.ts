/**
 * Named after Mesos's FaultToleranceTest: MasterFailover, SplitBrainMasters, and the
 * registry surviving the loss of masters. Three replicated masters, two real agents with
 * fake containerizers, schedulers through the masters' facades; SimNetwork + ManualClock.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { SimCluster, SimScheduler } from "./sim-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(11);

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A cluster with a leader, both agents registered, and a scheduler running one task. */
async function runningTask(seed: number): Promise<{ c: SimCluster; s: SimScheduler }> {
  const c = (cluster = await SimCluster.start(seed));
  const leader = await c.waitForLeader();
  await c.until(() => c.activeAgents(leader) === 2, "both agents registered with the leader");
  const s = new SimScheduler(c, "web", 0);
  await s.subscribe();
  await c.until(() => s.sink.offers().length > 0, "an offer");
  await s.accept(s.sink.offers()[0]!, "t1");
  await s.awaitState("t1", TaskState.RUNNING, "t1 RUNNING at the scheduler");
  await s.acknowledgeAll();
  return { c, s };
}

describe("Replicated masters (simulated network, manual clock)", () => {
  it("MasterFailover: the leader dies, a standby takes over, agents reregister, the task keeps running, the scheduler resubscribes and reconciles", async () => {
    const { c, s } = await runningTask(SEED);
    const old = s.master!;
    const frameworkId = s.frameworkId;
    const launched = c.agents.flatMap((a) => a.containerizer.launched.map((l) => l.id));
    await c.crashMaster(old.address);
    const leader = await c.waitForLeader("a new leading master after the crash");
    assert.notEqual(leader.address, old.address);
    await c.until(() => c.activeAgents(leader) === 2, "both agents reregistered with the new leader");
    await c.until(() => s.sink.closed || s.master === old, "the old stream is gone");
    const hops = await s.subscribe();
    assert.equal(s.master!.address, leader.address, `subscribed at the leader (hops ${hops.join(" -> ")})`);
    assert.equal(s.frameworkId, frameworkId, "the framework keeps its id");
    await s.reconcile();
    await c.until(() => s.states().get("t1") === TaskState.RUNNING, "reconciliation reports t1 RUNNING");
    const task = leader.group.master.core.frameworks.get(frameworkId)?.tasks.get("t1");
    assert.equal(task?.state, TaskState.RUNNING, "the new leader learned the task from its agent");
    assert.deepEqual(c.agents.flatMap((a) => a.containerizer.destroyed.map((d) => d.id)), [], "no container was destroyed");
    assert.deepEqual(c.agents.flatMap((a) => a.containerizer.launched.map((l) => l.id)), launched, "nothing was launched again");
    assert.deepEqual(c.splitBrains(), [], "at most one master acted per term");
  });

  it("SplitBrainMasters: a leader cut off from the other masters cannot write the registry, and agents stop obeying it once a new leader is elected", async () => {
    const { c, s } = await runningTask(SEED + 1);
    const old = s.master!;
    const others = c.addresses.filter((a) => a !== old.address);
    c.net.partition([old.address], others);
    // Still believing it leads, the old master tries to change the registry: the write cannot commit.
    const write = c.pending(old.group.master.core.registrar.apply({ kind: "updateWeights", weights: new Map([["cut-off", 9]]) }));
    await c.until(() => c.leading().some((m) => m.address !== old.address), "a leader among the majority");
    const leader = c.leading().find((m) => m.address !== old.address)!;
    await c.until(() => write.done, "the cut-off master's registry write to fail");
    assert.ok(write.error, "the cut-off master's write failed");
    await c.until(() => !old.group.master.leading, "the cut-off master stands down (CheckQuorum)");
    await c.until(() => c.activeAgents(leader) === 2, "agents follow the new leader");
    for (const a of c.agents) assert.equal(a.agent.agentState, AgentPhase.RUNNING);
    c.net.heal();
    await c.until(() => c.mastersUp().every((m) => c.raftIndexes(m).applied >= c.raftIndexes(leader).commit), "the healed master catches up");
    for (const m of c.mastersUp()) {
      assert.equal(m.group.raft.machine.registry.weights.has("cut-off"), false, `${m.address} never applied the cut-off write`);
    }
    assert.deepEqual(c.splitBrains(), [], "at most one master acted per term");
    assert.equal(c.leading().length, 1);
  });

  it("the registry survives the loss of a master: a restarted master recovers agents and frameworks from its log, and a later leader still knows them", async () => {
    const { c, s } = await runningTask(SEED + 2);
    const first = s.master!;
    await c.crashMaster(first.address);
    const second = await c.waitForLeader("a new leader");
    await c.startMaster(first.address);
    await c.until(() => c.raftIndexes(c.masters.get(first.address)!).applied >= c.raftIndexes(second).commit, "the restarted master caught up");
    const restarted = c.masters.get(first.address)!;
    const registry = restarted.group.raft.machine.registry;
    assert.ok(registry.frameworks.has(s.frameworkId), "the framework is in the restarted master's registry");
    assert.equal(registry.agents.size, 2, "both agents are in the restarted master's registry");
    await c.crashMaster(second.address);
    const third = await c.waitForLeader("a third leader");
    await c.until(() => c.activeAgents(third) === 2, "agents reregister with the third leader");
    await s.subscribe();
    assert.equal(s.master!.address, third.address);
    await s.reconcile();
    await c.until(() => s.states().get("t1") === TaskState.RUNNING, "t1 still RUNNING after two failovers");
    assert.deepEqual(c.splitBrains(), []);
  });
});
