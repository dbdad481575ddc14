/**
 * Named after Mesos's ReconciliationTest.RecoveredAgent and
 * PartitionedAgentThenMasterFailover: after a master failover, explicit reconciliation of a
 * task on an agent that has not reregistered yet ("transitioning") gets no TASK_UNKNOWN; the
 * answer comes when the agent reregisters (its real state) or is marked unreachable when the
 * reregistration window closes. An agent that was already unreachable before the failover
 * is answered at once. Three replicated masters, two agents; SimNetwork + ManualClock.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { ReconcileRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { REREGISTER_TIMEOUT_MS, SimCluster, SimScheduler, type SimAgent, type SimMaster } from "./sim-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(23);

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

interface Running {
  c: SimCluster;
  s: SimScheduler;
  /** The agent running t1 and its id. */
  agent: SimAgent;
  agentId: string;
}

async function runningTask(seed: number, partitionAware: boolean): Promise<Running> {
  const c = (cluster = await SimCluster.start(seed));
  const leader = await c.waitForLeader();
  await c.until(() => c.activeAgents(leader) === 2, "both agents registered with the leader");
  const s = new SimScheduler(c, "web", 3600, partitionAware);
  await s.subscribe();
  await c.until(() => s.sink.offers().length > 0, "an offer");
  await s.accept(s.sink.offers()[0]!, "t1");
  await s.awaitState("t1", TaskState.RUNNING, "t1 RUNNING at the scheduler");
  await s.acknowledgeAll();
  const agentId = s.sink.updates().find((u) => u.taskId?.value === "t1")!.agentId!.value;
  const agent = c.agents.find((a) => a.containerizer.launched.length > 0)!;
  return { c, s, agent, agentId };
}

/** Explicit reconciliation of the named tasks ([task id, agent id or undefined]). */
async function reconcile(s: SimScheduler, tasks: Array<[string, string | undefined]>): Promise<void> {
  await s.master!.facade.reconcile(
    create(ReconcileRequestSchema, {
      frameworkId: { value: s.frameworkId },
      streamId: s.streamId,
      tasks: tasks.map(([taskId, agentId]) => ({ taskId: { value: taskId }, agentId: agentId ? { value: agentId } : undefined })),
    }),
  );
}

function answers(s: SimScheduler, taskId: string): TaskStatus[] {
  return s.sink.updates().filter((u) => u.taskId?.value === taskId && u.reason === TaskStatus_Reason.RECONCILIATION);
}

/** Crashes the leader with agent cut off from every master; returns the new leader once the scheduler is on it. */
async function failoverWithout(r: Running): Promise<SimMaster> {
  const { c, s, agent } = r;
  const old = s.master!;
  c.net.partition([agent.address], c.addresses);
  await c.crashMaster(old.address);
  const leader = await c.waitForLeader("a new leading master after the crash");
  await c.until(() => c.activeAgents(leader) === 1, "the other agent reregistered with the new leader");
  await s.subscribe();
  assert.equal(s.master!.address, leader.address);
  return leader;
}

describe("Reconciliation across a master failover (simulated network, manual clock)", () => {
  it("RecoveredAgent: a task on an agent that has not reregistered gets no TASK_UNKNOWN, and its real state once the agent is back", async () => {
    const r = await runningTask(SEED, false);
    const { c, s, agent, agentId } = r;
    const leader = await failoverWithout(r);
    await reconcile(s, [
      ["t1", agentId],
      ["ghost", undefined],
    ]);
    await c.until(() => c.clock.now() > 0 && leader.group.master.core.pendingReconciliation.size === 2, "both questions wait");
    for (let i = 0; i < 50; i++) await c.step(100); // 5 s: still no answer
    assert.deepEqual(answers(s, "t1"), [], `no answer for t1 while its agent is transitioning (seed ${c.seed})`);
    assert.deepEqual(answers(s, "ghost"), [], `no answer for an agent-less task while an agent is transitioning (seed ${c.seed})`);

    c.net.heal();
    await c.until(() => c.activeAgents(leader) === 2, "the cut-off agent reregisters");
    await c.until(() => answers(s, "t1").length > 0 && answers(s, "ghost").length > 0, "answers once the agent is back");
    assert.deepEqual(
      answers(s, "t1").map((u) => TaskState[u.state]),
      ["RUNNING"],
      "t1 is answered RUNNING, once",
    );
    assert.deepEqual(answers(s, "ghost").map((u) => TaskState[u.state]), ["UNKNOWN"], "the unknown task is answered UNKNOWN once no agent is transitioning");
    assert.equal(leader.group.master.core.pendingReconciliation.size, 0);
    assert.equal(agent.containerizer.destroyed.length, 0, "the task kept running");
    await reconcile(s, [["t2-never-launched", agentId]]);
    await c.until(() => answers(s, "t2-never-launched").length === 1, "a task unknown on a reregistered agent is answered at once");
    assert.equal(answers(s, "t2-never-launched")[0]!.state, TaskState.UNKNOWN);
    assert.deepEqual(c.splitBrains(), []);
  });

  it("RecoveredAgent: when the reregistration window closes, the waiting question is answered TASK_LOST (TASK_UNREACHABLE when partition-aware)", async () => {
    for (const partitionAware of [false, true]) {
      const r = await runningTask(SEED + 1 + (partitionAware ? 1 : 0), partitionAware);
      const { c, s, agentId } = r;
      const leader = await failoverWithout(r);
      await reconcile(s, [["t1", agentId]]);
      await c.until(() => leader.group.master.core.pendingReconciliation.size === 1, "the question waits");
      assert.deepEqual(answers(s, "t1"), []);
      await c.until(() => answers(s, "t1").length > 0, "an answer when the window closes", REREGISTER_TIMEOUT_MS + 10_000);
      const expected = partitionAware ? TaskState.UNREACHABLE : TaskState.LOST;
      assert.deepEqual(
        answers(s, "t1").map((u) => TaskState[u.state]),
        [TaskState[expected]],
        `answered ${TaskState[expected]} once (partition-aware ${partitionAware}, seed ${c.seed})`,
      );
      await c.stop();
      cluster = undefined;
    }
  });

  it("PartitionedAgentThenMasterFailover: an agent marked unreachable before the failover is answered at once, and RUNNING after it comes back", async () => {
    const r = await runningTask(SEED + 3, true);
    const { c, s, agent, agentId } = r;
    const first = s.master!;
    c.net.partition([agent.address], c.addresses);
    await c.until(() => s.states().get("t1") === TaskState.UNREACHABLE, "t1 UNREACHABLE at the scheduler", 200_000);
    await c.until(() => first.group.raft.machine.registry.unreachable.has(agentId), "the registry holds the agent as unreachable");
    await c.crashMaster(first.address);
    const leader = await c.waitForLeader("a new leading master after the crash");
    await s.subscribe();
    assert.equal(s.master!.address, leader.address);
    await reconcile(s, [["t1", agentId]]);
    await c.until(() => answers(s, "t1").length > 0, "an answer at once");
    assert.equal(answers(s, "t1")[0]!.state, TaskState.UNREACHABLE, "t1 is UNREACHABLE right after the failover");
    assert.equal(leader.group.master.core.pendingReconciliation.size, 0, "nothing waits for an unreachable agent");

    c.net.heal();
    await c.until(() => c.activeAgents(leader) === 2, "the partitioned agent reregisters", 200_000);
    await reconcile(s, [["t1", agentId]]);
    await c.until(() => answers(s, "t1").at(-1)?.state === TaskState.RUNNING, "reconciliation reports t1 RUNNING");
    assert.equal(agent.containerizer.destroyed.length, 0, "the task kept running through the partition and the failover");
    assert.deepEqual(c.splitBrains(), []);
  });
});
