/**
 * Agent restart (Mesos's slave recovery tests, deterministic): the agent's node stops while
 * its containers keep running in the (fake) containerizer, and a new agent on the same work
 * directory finds its executors, tasks, agent id and pending status updates again.
 */
import assert from "node:assert/strict";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { RunTaskSchema, StatusUpdateAcknowledgementSchema, type ReregisterAgent, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { FakeContainerizer } from "../support/fake-containerizer.js";
import { waitFor } from "../support/wait.js";
import { admit, commandTask, executorStatus, framework, runAndSubscribe, sendUpdate, startHarness, subscribeExecutor, type Harness } from "./harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

/** A registered agent running t1 (TASK_RUNNING reported; acknowledged if asked). */
async function runningTask(acknowledge: boolean): Promise<Harness> {
  const x = (h = await startHarness());
  await admit(x);
  await runAndSubscribe(x);
  const running = executorStatus("t1", TaskState.RUNNING);
  await sendUpdate(x, "t1", running);
  await x.until(() => x.master.updates().length === 1, "TASK_RUNNING at the master");
  if (acknowledge) await acknowledgeUpdate(x, running.uuid);
  await checkpointed(x);
  return x;
}

async function acknowledgeUpdate(x: Harness, uuid: Uint8Array): Promise<void> {
  x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, uuid }));
  await x.until(() => x.metrics.value("slave/status_updates/pending") === 0, "the acknowledgement applied");
}

/** Waits until t1's executor checkpoint is on disk (a crash before it leaves an orphan container). */
async function checkpointed(x: Harness): Promise<void> {
  const file = join(x.workDir, "meta", "frameworks", "fw-1", "executors", "t1.json");
  await waitFor(() => access(file).then(() => true), "the executor checkpoint");
}

describe("Agent recovery", () => {
  it("reregisters with its checkpointed id and running task; the executor subscribes again and updates flow", async () => {
    const x = await runningTask(false);
    await x.restartAgent();
    await x.until(() => x.master.of("ReregisterAgent").length === 1, "a ReregisterAgent from the restarted agent");
    assert.equal(x.master.of("RegisterAgent").length, 1, "no second registration as a new agent");
    const re = x.master.of<ReregisterAgent>("ReregisterAgent")[0]!;
    assert.equal(re.agentInfo?.id?.value, "agent-1");
    assert.deepEqual(re.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t1", "RUNNING"]]);
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING);
    await admit(x, 60, true);
    await x.until(() => x.master.updates().length === 2, "the unacknowledged TASK_RUNNING resent after recovery");

    const link = await subscribeExecutor(x, "t1");
    assert.deepEqual(link.kinds(), ["subscribed"], "nothing is launched again");
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.RUNNING);
    await sendUpdate(x, "t1", executorStatus("t1", TaskState.FINISHED));
    x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, uuid: x.master.of<StatusUpdate>("StatusUpdate")[0]!.uuid }));
    await x.until(() => x.master.updates().at(-1) === "t1:FINISHED", "TASK_FINISHED after the acknowledgement");
  });

  it("waits for a late recovered executor whose container still runs: past the reregistration timeout it is not destroyed, and it subscribes again later", async () => {
    const x = await runningTask(true);
    assert.equal(x.containerizer.launched[0]!.env?.DCOS_RECOVERY_TIMEOUT, "900", "executors are told the recovery timeout (15 min)");
    await x.restartAgent({ executorReregistrationTimeoutMs: 2_000, executorRecoveryTimeoutMs: 120_000 });
    await admit(x, 60, true);
    await x.clock.advance(2_000);
    await x.until(() => x.metrics.value("slave/executors_late_reregistration") === 1, "the executor counted as late");
    await x.clock.advance(58_000); // a starved executor: back a minute after the agent
    assert.deepEqual(x.containerizer.destroyed, [], "not destroyed for being slow");
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING);
    const link = await subscribeExecutor(x, "t1");
    assert.deepEqual(link.kinds(), ["subscribed"]);
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.RUNNING);
    await x.clock.advance(120_000);
    assert.deepEqual(x.containerizer.destroyed, [], "the recovery timeout is cancelled once it subscribed");
    assert.deepEqual(x.master.updates(), ["t1:RUNNING"], "the task was never reported ended");
  });

  it("destroys a recovered executor that has not subscribed again within the recovery timeout; its task fails", async () => {
    const x = await runningTask(true);
    await x.restartAgent({ executorReregistrationTimeoutMs: 2_000, executorRecoveryTimeoutMs: 10_000 });
    await admit(x, 60, true);
    await x.clock.advance(2_000);
    await x.until(() => x.metrics.value("slave/executors_late_reregistration") === 1, "the executor counted as late");
    await x.clock.advance(7_000);
    assert.deepEqual(x.containerizer.destroyed, [], "still waited for within the recovery timeout");
    await x.clock.advance(1_000);
    await x.until(() => x.containerizer.destroyed.length === 1, "the container destroyed at the recovery timeout");
    await x.until(() => x.master.updates().includes("t1:FAILED"), "TASK_FAILED");
    const failed = x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.state === TaskState.FAILED)!;
    assert.equal(failed.status?.reason, TaskStatus_Reason.EXECUTOR_REREGISTRATION_TIMEOUT);
  });

  it("does not wait past the reregistration timeout when the recovery timeout is not longer", async () => {
    const x = await runningTask(true);
    await x.restartAgent({ executorReregistrationTimeoutMs: 2_000, executorRecoveryTimeoutMs: 2_000 });
    await admit(x, 60, true);
    await x.clock.advance(2_000);
    await x.until(() => x.containerizer.destroyed.length === 1, "the container destroyed");
    await x.until(() => x.master.updates().includes("t1:FAILED"), "TASK_FAILED");
    assert.equal(x.metrics.value("slave/executors_late_reregistration"), 0);
  });

  it("reports LOST the tasks whose container is gone after the restart", async () => {
    const x = await runningTask(true);
    await x.restartAgent({ containerizer: new FakeContainerizer() });
    await admit(x, 60, true);
    await x.until(() => x.master.updates().includes("t1:LOST"), "TASK_LOST");
    const lost = x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.state === TaskState.LOST)!;
    assert.equal(lost.status?.reason, TaskStatus_Reason.AGENT_RESTARTED);
  });

  it("reports LOST a task that never reached its executor before the restart", async () => {
    const x = (h = await startHarness());
    await admit(x);
    x.master.tell(x.agent.self, create(RunTaskSchema, { frameworkInfo: framework, task: commandTask("t1"), role: "*" }));
    await x.until(() => x.agent.executorOf("fw-1", "t1")?.phase === ExecutorPhase.REGISTERING, "the container launched");
    await checkpointed(x);
    await x.restartAgent();
    await admit(x, 60, true);
    assert.equal(x.agent.agentState, AgentPhase.RUNNING);
    await subscribeExecutor(x, "t1");
    await x.until(() => x.master.updates().includes("t1:LOST"), "TASK_LOST for the undelivered task");
  });
});
