/**
 * Mesos's SlaveRecoveryTest.Reboot, deterministic: the agent checkpoints the machine's boot id;
 * after a reboot (a different boot id, injected) no executor of the previous boot is waited
 * for: the agent reregisters with its id and no tasks, and reports its tasks GONE with
 * REASON_AGENT_REBOOTED. A restart without a reboot keeps waiting for the executor.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { rebootedSince } from "../../src/actors/agent/boot-id.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { create } from "@bufbuild/protobuf";
import { StatusUpdateAcknowledgementSchema, type ReregisterAgent, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { admit, executorStatus, runAndSubscribe, sendUpdate, startHarness, type Harness } from "../agent/harness.js";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const boot = (id: string) => async () => id;

async function runningOnBoot(bootId: string): Promise<Harness> {
  const x = (h = await startHarness({ bootId: boot(bootId) }));
  await admit(x);
  await runAndSubscribe(x);
  const running = executorStatus("t1", TaskState.RUNNING);
  await sendUpdate(x, "t1", running);
  await x.until(() => x.master.updates().length === 1, "TASK_RUNNING at the master");
  x.master.tell(x.agent.self, create(StatusUpdateAcknowledgementSchema, { agentId: { value: "agent-1" }, frameworkId: { value: "fw-1" }, taskId: { value: "t1" }, uuid: running.uuid }));
  await x.until(() => x.metrics.value("slave/status_updates/pending") === 0, "the acknowledgement applied");
  // The executor's checkpoint is written in the background; a restart before it lands is a
  // different scenario (an orphan container), so wait for it.
  await x.agent.executorOf("fw-1", "t1")!.io;
  return x;
}

describe("Reboot (SlaveRecoveryTest.Reboot)", () => {
  it("after a machine reboot the agent reregisters without tasks and reports them GONE (REASON_AGENT_REBOOTED)", async () => {
    const x = await runningOnBoot("boot-1");
    assert.equal((await readFile(join(x.workDir, "meta", "boot-id"), "utf8")).trim(), "boot-1");
    await x.restartAgent({ bootId: boot("boot-2") });
    await x.until(() => x.master.of("ReregisterAgent").length === 1, "the rebooted agent reregisters");
    const re = x.master.of<ReregisterAgent>("ReregisterAgent")[0]!;
    assert.equal(re.agentInfo?.id?.value, "agent-1", "the agent keeps its id so the master learns of the loss at once");
    assert.deepEqual(re.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t1", "GONE"]], "no task survives a reboot");
    assert.notEqual(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING, "no executor of the previous boot is waited for");
    await admit(x, 60, true);
    await x.until(() => x.master.updates().includes("t1:GONE"), "TASK_GONE for t1");
    const gone = x.master.of<StatusUpdate>("StatusUpdate").find((u) => u.status?.state === TaskState.GONE)!;
    assert.equal(gone.status?.reason, TaskStatus_Reason.AGENT_REBOOTED);
    assert.equal((await readFile(join(x.workDir, "meta", "boot-id"), "utf8")).trim(), "boot-2");
  });

  it("a restart on the same boot waits for the executor as before", async () => {
    const x = await runningOnBoot("boot-1");
    await x.restartAgent({ bootId: boot("boot-1") });
    await x.until(() => x.master.of("ReregisterAgent").length === 1, "the restarted agent reregisters");
    const re = x.master.of<ReregisterAgent>("ReregisterAgent")[0]!;
    assert.deepEqual(re.tasks.map((t) => [t.taskId?.value, TaskState[t.state]]), [["t1", "RUNNING"]]);
    assert.equal(x.agent.executorOf("fw-1", "t1")?.phase, ExecutorPhase.REGISTERING);
  });

  it("a reboot is a known, different boot id (none checkpointed or none readable is not one)", () => {
    assert.equal(rebootedSince("a", "b"), true);
    assert.equal(rebootedSince("a", "a"), false);
    assert.equal(rebootedSince("", "b"), false);
    assert.equal(rebootedSince("a", ""), false);
  });
});
