/**
 * Agent recovery with real processes on separate "hosts" (network namespaces), as Mesos's
 * SlaveRecoveryTest: `kill -9` of the agent process leaves its task running; the agent
 * restarted on the same work dir recovers it, comes back as the same agent, the framework
 * still owns the task (reconciled RUNNING), and can still kill it through the agent.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { isTerminal } from "../../src/actors/task-states.js";
import { waitFor } from "../support/wait.js";
import { SystemCluster, sleeping } from "./system-cluster.js";

describe("Agent restart (real processes in network namespaces)", () => {
  let c: SystemCluster;

  before(async () => {
    c = await SystemCluster.start(2, 2, "agent-restart");
  });

  after(async () => {
    await c?.stop();
  });

  it("keeps the task running across kill -9 of the agent, and the restarted agent recovers it for its framework", async () => {
    const taskId = "survivor";
    await c.framework.launch(taskId, c.hostname(2), c.longTask(taskId));
    const pid = await c.taskPid(taskId);
    const agentId = c.framework.agentOf(taskId);

    const killed = c.agents.get(2)!;
    killed.kill("SIGKILL");
    await killed.exited;
    assert.ok(await sleeping(pid), "the task outlives its agent");

    const beforeRestart = c.framework.updates.length;
    const restarted = await c.startAgent(2);
    await restarted.waitForLine(new RegExp(`(Registered with master \\S+ as agent ${agentId})`), "the agent to come back with its id");
    await c.framework.reconciledAs(taskId, TaskState.RUNNING, beforeRestart, 30_000, () => c.logs());
    assert.ok(await sleeping(pid), "the same task process runs: it was recovered, not relaunched");
    const states = c.framework.updates.filter((u) => u.taskId?.value === taskId).map((u) => u.state);
    assert.ok(!states.some(isTerminal), `the task never ended (states: ${c.framework.describe(taskId)})`);

    const beforeKill = c.framework.updates.length;
    await c.framework.kill(taskId);
    await c.framework.waitForState(taskId, TaskState.KILLED, 30_000, beforeKill);
    await waitFor(async () => !(await sleeping(pid)), `task process ${pid} to end after the kill through the recovered agent`, 15_000);
  });
});
