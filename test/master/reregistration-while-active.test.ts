/**
 * An agent reregisters while the master still holds it ACTIVE without a task the master sent
 * it. Two causes look the same to the master: the agent was disconnected and dropped the
 * RunTask (the break was shorter than the ping timeouts), or the reregistration is an older
 * retry that reached the master after it had reregistered the agent and launched the task
 * (a busy machine, seen in the chaos test). So the master does not end the task itself: it
 * asks the agent (ReconcileAgentTasks, after AgentReregistered), keeps the task and its
 * resources, and ends it only when the agent's own update says it never got it.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { ReconcileAgentTasksSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function launchedTwo(partitionAware: boolean) {
  const c = (cluster = await Cluster.start());
  const s = await c.subscribe("fw", { partitionAware });
  await c.allocate();
  await c.launch(s, s.sink.offers(), [commandTask("kept", "cpus:1;mem:128"), commandTask("missing", "cpus:1;mem:128")]);
  const agent = c.agents[0]!;
  const kept = create(TaskSchema, { taskId: { value: "kept" }, frameworkId: { value: s.frameworkId }, agentId: { value: agent.agentId }, state: TaskState.RUNNING, resources: commandTask("kept").resources });
  return { c, s, agent, kept };
}

describe("master: an ACTIVE agent reregisters without a task the master sent it", () => {
  it("the master acknowledges, then asks the agent about the task (TASK_LOST if unknown there, not partition-aware) and keeps it", async () => {
    const { c, s, agent, kept } = await launchedTwo(false);
    assert.equal(c.metric("master/slaves_active"), 1);
    agent.received.length = 0;
    agent.reregister([kept]);
    await c.clock.settle();

    assert.deepEqual(agent.received.map((m) => m.$typeName), ["dcos.v1.AgentReregistered", "dcos.v1.ReconcileAgentTasks"], "acknowledged first, then asked");
    const [ask] = agent.messages(ReconcileAgentTasksSchema);
    assert.equal(ask!.frameworkId?.value, s.frameworkId);
    assert.deepEqual(ask!.taskIds.map((t) => t.value), ["missing"]);
    assert.equal(ask!.unknownState, TaskState.LOST);
    assert.ok(!s.sink.updates().some((u) => u.taskId?.value === "missing"), "nothing is said before the agent answers");
    assert.equal(c.metric("master/tasks_staging"), 2, "both tasks are still the master's");
    assert.equal(c.metric("master/slave_task_reconciliations"), 1);
    assert.equal(c.metric("master/slaves_active"), 1, "the agent stays active");

    // The agent never got it: it answers with its own (reliable) update, as src/actors/agent does.
    agent.update(s.frameworkId, "missing", TaskState.LOST);
    await c.clock.settle();
    assert.deepEqual(s.sink.updates().filter((u) => u.taskId?.value === "missing").map((u) => TaskState[u.state]), ["LOST"]);
    assert.equal(c.metric("master/tasks_lost"), 1);
    assert.equal(c.metric("master/tasks_staging"), 1, "only 'kept' is still known, in the master's state");
  });

  it("a stale reregistration: the agent runs the task, so the framework hears RUNNING and never a terminal state", async () => {
    const { c, s, agent, kept } = await launchedTwo(true);
    s.sink.clear();
    agent.reregister([kept]);
    await c.clock.settle();
    assert.equal(agent.messages(ReconcileAgentTasksSchema)[0]?.unknownState, TaskState.DROPPED, "a partition-aware framework's unknown task would be TASK_DROPPED");
    agent.update(s.frameworkId, "missing", TaskState.RUNNING);
    await c.clock.settle();
    assert.deepEqual(s.sink.updates().map((u) => `${u.taskId?.value} ${TaskState[u.state]}`), ["missing RUNNING"]);
    assert.equal(c.metric("master/tasks_running"), 1);
  });

  it("a partition-aware framework hears the agent's TASK_DROPPED, and the task's resources are offered again", async () => {
    const { c, s, agent, kept } = await launchedTwo(true);
    s.sink.clear();
    agent.reregister([kept]);
    await c.clock.settle();
    agent.update(s.frameworkId, "missing", TaskState.DROPPED);
    await c.clock.settle();
    assert.deepEqual(s.sink.updates().map((u) => `${u.taskId?.value} ${TaskState[u.state]}`), ["missing DROPPED"]);

    await c.clock.advance(6_000);
    const offered = s.sink.offers().flatMap((o) => o.resources).filter((r) => r.name === "cpus").reduce((n, r) => n + (r.scalar?.value ?? 0), 0);
    assert.equal(offered, 3, "4 cpus less the one 'kept' uses: the dropped task's cpu came back");
  });

  it("a task the master already holds as terminal is just removed, not asked about", async () => {
    const { c, s, agent, kept } = await launchedTwo(true);
    agent.update(s.frameworkId, "missing", TaskState.FAILED);
    await c.clock.settle();
    agent.received.length = 0;
    agent.reregister([kept]);
    await c.clock.settle();
    assert.deepEqual(agent.messages(ReconcileAgentTasksSchema), []);
    assert.equal(c.metric("master/slave_task_reconciliations"), 0);
  });
});
