/**
 * An agent whose connection to the master broke reregisters while the master still holds it
 * ACTIVE (the break was shorter than the ping timeouts). A RunTask the master sent meanwhile
 * was dropped by the disconnected agent, so its reregistration does not list the task: the
 * master must end that task (as Mesos's reconcileKnownSlave does) instead of keeping it in
 * STAGING forever. Found by the fault simulation (seed 5).
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { TaskSchema, TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
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
  await c.launch(s, s.sink.offers(), [commandTask("kept", "cpus:1;mem:128"), commandTask("lost", "cpus:1;mem:128")]);
  const agent = c.agents[0]!;
  const kept = create(TaskSchema, { taskId: { value: "kept" }, frameworkId: { value: s.frameworkId }, agentId: { value: agent.agentId }, state: TaskState.RUNNING, resources: commandTask("kept").resources });
  return { c, s, agent, kept };
}

describe("master: an ACTIVE agent reregisters without a task the master sent it", () => {
  it("the missing STAGING task ends TASK_LOST (not partition-aware), the reported one stays, the agent is acknowledged", async () => {
    const { c, s, agent, kept } = await launchedTwo(false);
    assert.equal(c.metric("master/slaves_active"), 1);
    agent.reregister([kept]);
    await c.clock.settle();

    const lost = s.sink.updates().filter((u) => u.taskId?.value === "lost");
    assert.deepEqual(lost.map((u) => TaskState[u.state]), ["LOST"]);
    assert.equal(lost[0]!.reason, TaskStatus_Reason.RECONCILIATION);
    assert.match(lost[0]!.message, /not on agent .* which reregistered without it/);
    assert.ok(!s.sink.updates().some((u) => u.taskId?.value === "kept"), "the reported task hears nothing");
    assert.equal(agent.received.at(-1)?.$typeName, "dcos.v1.AgentReregistered");
    assert.equal(c.metric("master/slaves_active"), 1, "the agent stays active");
    assert.equal(c.metric("master/tasks_lost"), 1);
    assert.equal(c.metric("master/tasks_staging"), 1, "only 'kept' is still known, in the master's state");
  });

  it("a partition-aware framework hears TASK_DROPPED, and the task's resources are offered again", async () => {
    const { c, s, agent, kept } = await launchedTwo(true);
    s.sink.clear();
    agent.reregister([kept]);
    await c.clock.settle();
    assert.deepEqual(s.sink.updates().map((u) => `${u.taskId?.value} ${TaskState[u.state]}`), ["lost DROPPED"]);

    await c.clock.advance(6_000);
    const offered = s.sink.offers().flatMap((o) => o.resources).filter((r) => r.name === "cpus").reduce((n, r) => n + (r.scalar?.value ?? 0), 0);
    assert.equal(offered, 3, "4 cpus less the one 'kept' uses: the lost task's cpu came back");
  });
});
