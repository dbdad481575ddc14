/**
 * Named after Mesos's SlaveRecoveryTest, deterministic: the real master (a one-node group),
 * real agents with fake containerizers on a SimNetwork and a ManualClock; an agent
 * "restart" is a new Agent actor on the same checkpoint directory while its containers
 * keep running. Every case runs in both ways of running command tasks: by the agent itself
 * (the default) and by executor processes ("process"). DCOS_SEED replays another seed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import type { CommandExecutorMode } from "../../src/actors/agent/agent-options.js";
import { SimWorld, type SimFramework } from "./sim-world.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(21);

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

/** One agent, one framework, one task RUNNING and acknowledged. */
async function runningTask(seed: number, commandExecutor: CommandExecutorMode): Promise<{ w: SimWorld; f: SimFramework; taskId: string }> {
  const w = (world = await SimWorld.start(seed, { masters: 1, agents: 1, commandExecutor }));
  await w.ready();
  const f = w.framework("web");
  await f.subscribe();
  const taskId = await f.launchRunning();
  await w.until(() => w.host("a1:5051").node!.agent.executorOf(f.s.frameworkId, taskId) !== undefined, "the agent knows the executor");
  return { w, f, taskId };
}

const A1 = "a1:5051";

for (const mode of ["agent", "process"] as const) describe(`SlaveRecoveryTest (simulated network, manual clock; command tasks run by ${mode === "agent" ? "the agent" : "executor processes"})`, () => {
  it("RecoverSlaveState: a restarted agent recovers its id, framework, executor and task from its checkpoints and reregisters", async () => {
    const { w, f, taskId } = await runningTask(SEED, mode);
    const before = w.host(A1).node!.agent.agentInfo().id?.value;
    await w.restartAgent(A1);
    const agent = w.host(A1).node!.agent;
    await w.until(() => agent.agentState === AgentPhase.RUNNING, "the restarted agent reregistered");
    assert.equal(agent.agentInfo().id?.value, before, "the agent kept its id");
    const fw = agent.frameworksView().get(f.s.frameworkId);
    assert.ok(fw, "the framework was recovered");
    assert.ok(agent.executorOf(f.s.frameworkId, taskId), "the executor was recovered");
    assert.equal(w.leader()!.group.master.core.frameworks.get(f.s.frameworkId)?.tasks.get(taskId)?.state, TaskState.RUNNING);
    assert.equal(w.launchesPerTask().get(taskId), 1, "the task was launched once");
  });

  it("ReconnectExecutor: the running executor subscribes to the restarted agent; the task keeps running and is not relaunched", async () => {
    const { w, f, taskId } = await runningTask(SEED + 1, mode);
    await w.restartAgent(A1);
    const agent = w.host(A1).node!.agent;
    await w.until(() => agent.agentState === AgentPhase.RUNNING, "the restarted agent reregistered");
    await w.run(30_000);
    assert.deepEqual([...w.liveTasks()], [taskId], "the container still runs after the executor reregistration timeout");
    assert.deepEqual(w.host(A1).containerizer.destroyed, [], "nothing was destroyed");
    await f.reconcile();
    await w.until(() => f.updates().length >= 2, "a reconciliation answer");
    assert.equal(f.states().get(taskId), TaskState.RUNNING);
    assert.deepEqual([...f.terminal()], [], "no terminal update");
    // The reconnected executor still reaches the scheduler through the new agent.
    await w.endTask(taskId);
    await w.until(() => f.states().get(taskId) === TaskState.FINISHED, "FINISHED through the restarted agent");
  });

  it("RecoverTerminatedExecutor: an executor that ended while the agent was down is reported terminal after the restart", async () => {
    const { w, f, taskId } = await runningTask(SEED + 2, mode);
    await w.crashAgent(A1);
    const where = w.container(taskId)!;
    where.host.containerizer.exit(where.id, 1);
    await w.startAgent(A1);
    await w.until(() => f.terminal().has(taskId), "a terminal update for the task whose executor ended", 120_000);
    const last = f.states().get(taskId)!;
    assert.ok([TaskState.FAILED, TaskState.LOST, TaskState.GONE].includes(last), `terminal as failed or lost, got ${TaskState[last]}`);
    if (mode === "agent") {
      // The agent learns how the command ended from the recorded exit status: exactly that, from the task.
      const end = f.updates().find((u) => u.taskId?.value === taskId && u.state === last)!;
      assert.equal(TaskState[last], "FAILED", end.message);
      assert.equal(end.exitCode, 1, end.message);
      assert.equal(TaskStatus_Source[end.source], "EXECUTOR");
    }
    const atMaster = w.leader()!.group.master.core.frameworks.get(f.s.frameworkId)?.tasks.get(taskId);
    assert.equal(atMaster?.state, last, "the master holds the same terminal state until it is acknowledged");
  });

  it("RecoverTaskStatusUpdateManager: an update not acknowledged before the crash is replayed by the restarted agent", async () => {
    const { w, f, taskId } = await runningTask(SEED + 3, mode);
    // The master stops hearing the agent: FINISHED is checkpointed by the agent, never acknowledged.
    w.c.net.cutOneWay(A1, w.leader()!.address);
    await w.endTask(taskId);
    await w.run(2_000);
    assert.equal(f.terminal().has(taskId), false, "the update has not reached the scheduler");
    await w.crashAgent(A1);
    w.c.net.heal();
    await w.startAgent(A1);
    await w.until(() => f.states().get(taskId) === TaskState.FINISHED, "the replayed FINISHED at the scheduler", 120_000);
    await f.acknowledge();
    await w.until(() => w.host(A1).node!.agent.executorOf(f.s.frameworkId, taskId) === undefined, "the acknowledged update lets the agent forget the executor", 60_000);
    assert.equal(f.updates().filter((u) => u.state === TaskState.FINISHED).length >= 1, true);
    assert.equal(w.launchesPerTask().get(taskId), 1);
  });
});
