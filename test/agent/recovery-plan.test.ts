/**
 * planRecovery, the pure part of the agent's recovery: which executors are live or gone,
 * which containers are orphans, and which tasks are unowned (their updates name an
 * executor no checkpoint holds: the agent died during their launch, after TASK_STARTING).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { FrameworkInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { StatusUpdateSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { ExecutorInfoSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import type { ExecutorCheckpoint } from "../../src/actors/agent/checkpoint.js";
import { planRecovery } from "../../src/actors/agent/recovery-plan.js";
import type { RecoveredStream } from "../../src/actors/agent/status-update-manager.js";
import type { ContainerState } from "../../src/isolation/containerizer.js";
import { commandTask } from "./harness.js";

const FW = "fw-1";

function checkpoint(taskId: string, containerId: string, launched: boolean): ExecutorCheckpoint {
  const container: ContainerState = { id: containerId, containerizer: "posix", isolators: [], pid: 10, startTime: 1, bootId: "b", sandbox: "/s", runtimeDir: "/r" };
  return {
    framework: create(FrameworkInfoSchema, { id: { value: FW }, name: "test", user: "nobody" }),
    executor: create(ExecutorInfoSchema, { executorId: { value: taskId }, frameworkId: { value: FW } }),
    kind: "direct",
    containerId,
    sandbox: "/s",
    container: launched ? container : undefined,
    tasks: [{ task: commandTask(taskId), role: "*" }],
  };
}

function stream(taskId: string, state: TaskState, terminated = false, executorId: string | null = taskId): RecoveredStream {
  const latest = create(StatusUpdateSchema, { frameworkId: { value: FW }, executorId: executorId ? { value: executorId } : undefined, status: { taskId: { value: taskId }, state } });
  return { frameworkId: FW, taskId, latest, pending: 1, terminated };
}

describe("planRecovery", () => {
  it("a task STARTING whose executor no checkpoint holds is unowned; checkpointed, ended or executor-less ones are not", () => {
    const plan = planRecovery(
      [checkpoint("running", "c-running", true), checkpoint("gone", "c-gone", true)],
      [
        stream("running", TaskState.RUNNING),
        stream("gone", TaskState.RUNNING),
        stream("mid-launch", TaskState.STARTING),
        stream("ended", TaskState.FAILED),
        stream("acked", TaskState.FINISHED, true),
        stream("agent-made", TaskState.STAGING, false, null),
      ],
      { recovered: ["c-running"], orphans: ["c-orphan"] },
    );
    assert.deepEqual(plan.live.map((e) => e.id), ["running"]);
    assert.deepEqual(plan.gone.map((e) => e.id), ["gone"]);
    assert.deepEqual(plan.orphans, ["c-orphan"]);
    assert.deepEqual(plan.unowned.map((s) => s.taskId), ["mid-launch"]);
  });

  it("an executor checkpointed before its container (no container yet) owns its task: it is gone, not unowned", () => {
    const plan = planRecovery([checkpoint("early", "c-early", false)], [stream("early", TaskState.STARTING)], { recovered: [], orphans: [] });
    assert.deepEqual(plan.gone.map((e) => e.id), ["early"]);
    assert.deepEqual(plan.unowned, []);
  });
});
