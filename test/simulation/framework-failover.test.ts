/**
 * Named after Mesos's FaultToleranceTest.UpdateFrameworkInfoOnMasterFailover and
 * SchedulerFailoverStatusUpdate, across a master failover: a scheduler that resubscribes at
 * the new leader with changed FrameworkInfo has it taken (and replicated, so a later leader
 * knows it too); a status update the old scheduler instance never acknowledged reaches the
 * scheduler that fails over to it. Three replicated masters, two agents; SimNetwork +
 * ManualClock.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { SimCluster, SimScheduler } from "./sim-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(31);

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function withTask(seed: number, acknowledge: boolean): Promise<{ c: SimCluster; s: SimScheduler }> {
  const c = (cluster = await SimCluster.start(seed));
  const leader = await c.waitForLeader();
  await c.until(() => c.activeAgents(leader) === 2, "both agents registered with the leader");
  const s = new SimScheduler(c, "web", 3600);
  await s.subscribe();
  await c.until(() => s.sink.offers().length > 0, "an offer");
  await s.accept(s.sink.offers()[0]!, "t1");
  await s.awaitState("t1", TaskState.RUNNING, "t1 RUNNING at the scheduler");
  if (acknowledge) await s.acknowledgeAll();
  return { c, s };
}

describe("Framework failover across a master failover (simulated network, manual clock)", () => {
  it("UpdateFrameworkInfoOnMasterFailover: the new leader takes the FrameworkInfo the scheduler resubscribes with, and a later leader still has it", async () => {
    const { c, s } = await withTask(SEED, true);
    const frameworkId = s.frameworkId;
    const first = s.master!.address;
    await c.crashMaster(first);
    const second = await c.waitForLeader("a new leader");
    const updated = new SimScheduler(c, "web-v2", 7200);
    updated.frameworkId = frameworkId;
    await updated.subscribe();
    assert.equal(updated.master!.address, second.address);
    assert.equal(updated.frameworkId, frameworkId, "same framework");
    const info = second.group.master.core.frameworks.get(frameworkId)?.info;
    assert.equal(info?.name, "web-v2", "the new leader uses the new name");
    assert.equal(info?.failoverTimeout, 7200, "and the new failover timeout");
    await c.until(
      () => c.mastersUp().every((m) => m.group.raft.machine.registry.frameworks.get(frameworkId)?.name === "web-v2"),
      "the updated FrameworkInfo replicated to every master's registry",
    );
    await c.startMaster(first); // a quorum for the next failover
    await c.crashMaster(second.address);
    const third = await c.waitForLeader("a third leader");
    await c.until(() => third.group.master.core.frameworks.has(frameworkId), "the third leader recovered the framework");
    assert.equal(third.group.master.core.frameworks.get(frameworkId)!.info.failoverTimeout, 7200, `the third leader recovered the updated info (seed ${c.seed})`);
    await updated.subscribe();
    await updated.reconcile();
    await c.until(() => updated.states().get("t1") === TaskState.RUNNING, "t1 still RUNNING");
    assert.deepEqual(c.splitBrains(), []);
  });

  it("SchedulerFailoverStatusUpdate: an update the failed scheduler never acknowledged reaches its successor after a master failover", async () => {
    const { c, s } = await withTask(SEED + 1, false);
    const frameworkId = s.frameworkId;
    const agents = c.agents.map((a) => a.containerizer.launched.length);
    await c.crashMaster(s.master!.address); // the old scheduler instance dies with its stream, never acknowledging
    const leader = await c.waitForLeader("a new leader");
    await c.until(() => c.activeAgents(leader) === 2, "both agents reregistered");
    const successor = new SimScheduler(c, "web", 3600);
    successor.frameworkId = frameworkId;
    await successor.subscribe();
    assert.equal(successor.master!.address, leader.address);
    await c.until(
      () => successor.sink.updates().some((u) => u.taskId?.value === "t1" && u.state === TaskState.RUNNING && u.uuid.length > 0),
      "the agent's retry of the unacknowledged RUNNING update reaches the successor",
      120_000,
    );
    await successor.acknowledgeAll();
    await c.step(1000);
    const retries = (): number => successor.sink.updates().filter((u) => u.taskId?.value === "t1" && u.uuid.length > 0).length;
    const heard = retries();
    for (let i = 0; i < 60; i++) await c.step(1000);
    assert.equal(retries(), heard, `the agent stops retrying once the successor acknowledged (seed ${c.seed})`);
    assert.deepEqual(
      c.agents.map((a) => a.containerizer.launched.length),
      agents,
      "nothing launched again",
    );
    assert.deepEqual(c.splitBrains(), []);
  });
});
