/**
 * Everything fails in turn, with real processes on separate "hosts" (network namespaces):
 * three masters in one Raft group (hosts 1-3), two agents given all three (hosts 4-5), and a
 * partition-aware framework (the real SchedulerDriver, in the test process) running long
 * tasks. kill -9 of the leading master: another one leads, both agents reregister with it,
 * the framework resubscribes under its id and reconciles every task RUNNING, the same task
 * processes running. Then kill -9 of an agent and its restart on its work dir: its tasks are
 * recovered, not relaunched. Then one agent's link goes down: TASK_UNREACHABLE; link up:
 * RUNNING again. No task ever ends or is launched twice.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { waitFor } from "../support/wait.js";
import { MASTER_PORT, SystemCluster, sleeping } from "./system-cluster.js";

/** Cluster 3 (partition uses 1, agent-restart 2). */
const CLUSTER = 3;
const MASTERS = 3;
/** host -> its tasks. */
const TASKS = new Map([
  [4, ["steady-4a", "steady-4b"]],
  [5, ["steady-5a", "steady-5b"]],
]);
const ALL_TASKS = [...TASKS.values()].flat();
/** An election, the agents' reregistration and the driver's prompt retries, on a noisy machine. */
const FAILOVER_WITHIN_MS = 30_000;
const UNREACHABLE_WITHIN_MS = 30_000;
const BACK_WITHIN_MS = 60_000;

describe("Master failover, agent restart and a partition (3 masters, 2 agents, real processes in network namespaces)", () => {
  let c: SystemCluster;
  const pids = new Map<string, number>();

  before(async () => {
    c = await SystemCluster.start(CLUSTER, MASTERS + TASKS.size, "masters-failover", MASTERS);
    await waitFor(() => c.leader() >= 0, "a leading master", 30_000);
    for (const [host, tasks] of TASKS) {
      for (const taskId of tasks) {
        await c.framework.launch(taskId, c.hostname(host), c.longTask(taskId));
        pids.set(taskId, await c.taskPid(taskId));
      }
    }
  });

  after(async () => {
    await c?.stop();
  });

  /** Every task reconciled RUNNING after the first `since` updates, each still the same process. */
  async function allRunning(since: number, tasks: readonly string[] = ALL_TASKS): Promise<void> {
    await Promise.all(tasks.map((t) => c.framework.reconciledAs(t, TaskState.RUNNING, since, BACK_WITHIN_MS, () => c.logs())));
    for (const t of tasks) assert.ok(await sleeping(pids.get(t)!), `task ${t} still runs as pid ${pids.get(t)}: nothing relaunched it`);
  }

  it("kill -9 of the leading master: a new leader, both agents reregister, the framework resubscribes and its tasks keep running", async () => {
    const frameworkId = c.framework.frameworkId;
    const old = c.leader();
    const since = c.framework.updates.length;
    await c.killMaster(old);
    await waitFor(() => c.leader() >= 0 && c.leader() !== old, "a new leading master", FAILOVER_WITHIN_MS);
    const leader = c.masters[c.leader()]!;
    await waitFor(() => leader.count(/Every agent the registry held when this term began has reregistered/) >= 1, "both agents to reregister with the new leader", FAILOVER_WITHIN_MS);
    await waitFor(() => c.framework.resubscribedAt.length > 0, `the framework to resubscribe\n${c.logs()}`, FAILOVER_WITHIN_MS);
    assert.equal(c.framework.frameworkId, frameworkId, "the framework kept its id");
    assert.equal(c.framework.resubscribedAt.at(-1), `${c.net.ip(c.leader() + 1)}:${MASTER_PORT}`, "it resubscribed at the new leader");
    await allRunning(since);
  });

  it("kill -9 of an agent and its restart on its work dir: its tasks are recovered and reconciled RUNNING", async () => {
    const host = 4;
    const agentId = c.framework.agentOf(TASKS.get(host)![0]!);
    const killed = c.agents.get(host)!;
    killed.kill("SIGKILL");
    await killed.exited;
    for (const t of TASKS.get(host)!) assert.ok(await sleeping(pids.get(t)!), `task ${t} outlives its agent`);

    const since = c.framework.updates.length;
    const restarted = await c.startAgent(host);
    await restarted.waitForLine(new RegExp(`((Registered|Reregistered) with master \\S+ as agent ${agentId})`), "the agent to come back with its id");
    await allRunning(since);
  });

  it("an agent whose link goes down is TASK_UNREACHABLE; when it comes back its tasks are reconciled RUNNING", async () => {
    const host = 5;
    const tasks = TASKS.get(host)!;
    const since = c.framework.updates.length;
    await c.net.linkDown(host);
    for (const t of tasks) {
      const lost = await c.framework.waitForState(t, [TaskState.UNREACHABLE, TaskState.LOST], UNREACHABLE_WITHIN_MS, since);
      assert.equal(lost.state, TaskState.UNREACHABLE, `a partition-aware framework hears TASK_UNREACHABLE for ${t}, not TASK_LOST`);
      assert.ok(await sleeping(pids.get(t)!), `task ${t} keeps running on the agent cut off`);
    }
    const healed = c.framework.updates.length;
    await c.net.linkUp(host);
    await allRunning(healed, tasks);
  });

  it("no task ever ended or was launched twice, and the framework heard only of its own tasks", async () => {
    for (const t of ALL_TASKS) {
      // On a loaded machine the 1 s x 3 pings can also mark the other agent unreachable for a
      // moment (TASK_UNREACHABLE is not an end): such a task must be reconciled RUNNING again.
      if (c.framework.latest(t)?.state !== TaskState.RUNNING) await c.framework.reconciledAs(t, TaskState.RUNNING, c.framework.updates.length, BACK_WITHIN_MS, () => c.logs());
      const states = c.framework.updates.filter((u) => u.taskId?.value === t).map((u) => u.state);
      assert.ok(!states.some(isTerminal), `task ${t} never ended (states: ${c.framework.describe(t)})`);
      assert.equal(c.framework.latest(t)?.state, TaskState.RUNNING, `task ${t} ends RUNNING`);
      assert.equal(await c.taskPid(t), pids.get(t), `task ${t}'s pid file still names its first process: no second launch`);
    }
    const unexpected = c.framework.updates.filter((u) => !ALL_TASKS.includes(u.taskId?.value ?? "")).map((u) => u.taskId?.value);
    assert.deepEqual(unexpected, [], "updates only for the tasks launched");
  });
});
