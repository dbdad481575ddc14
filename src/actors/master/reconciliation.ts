/**
 * Reconciliation: the master answers with what it knows of each task, as UPDATE events
 * without a uuid (nothing to acknowledge). Explicit: the tasks named (unknown ones are
 * TASK_UNKNOWN, or TASK_UNREACHABLE/TASK_LOST when their agent is unreachable); implicit
 * (no tasks named): every task the master knows for the framework.
 */
import type { ReconcileRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason, type Task } from "../../gen/dcos/v1/tasks_pb.js";
import { AgentState } from "./agent.js";
import type { MasterCore } from "./core.js";
import type { FrameworkRecord } from "./framework.js";

/** What a framework should hear for a task state (non-partition-aware ones never hear UNREACHABLE). */
function visibleState(framework: FrameworkRecord, state: TaskState): TaskState {
  return state === TaskState.UNREACHABLE && !framework.partitionAware ? TaskState.LOST : state;
}

function sendKnown(core: MasterCore, framework: FrameworkRecord, task: Task): void {
  const latest = task.statuses[task.statuses.length - 1];
  const status = core.masterStatus(
    { taskId: task.taskId!.value, agentId: task.agentId?.value, executorId: task.executorId?.value },
    visibleState(framework, task.state),
    TaskStatus_Reason.RECONCILIATION,
    latest?.message ?? "Reconciliation: latest task state",
  );
  if (latest?.healthy !== undefined) status.healthy = latest.healthy;
  core.forwardStatus(framework, status);
}

/** The answer for one task id: its latest state, or what the master can say without it. */
export function reconcileTask(core: MasterCore, framework: FrameworkRecord, taskId: string, agentId: string | undefined): void {
  const task = framework.tasks.get(taskId);
  if (task) return sendKnown(core, framework, task);
  const agent = agentId ? core.agents.get(agentId) : undefined;
  const unreachable = agent?.state === AgentState.UNREACHABLE || (agentId !== undefined && core.registrar.state().unreachable.has(agentId));
  const state = unreachable ? visibleState(framework, TaskState.UNREACHABLE) : TaskState.UNKNOWN;
  const status = core.masterStatus(
    { taskId, agentId },
    state,
    TaskStatus_Reason.RECONCILIATION,
    unreachable ? `Reconciliation: task ${taskId} is on unreachable agent ${agentId}` : `Reconciliation: task ${taskId} is unknown`,
  );
  core.forwardStatus(framework, status);
}

export function reconcile(core: MasterCore, framework: FrameworkRecord, request: ReconcileRequest): void {
  core.metrics.message("reconcile");
  if (request.tasks.length === 0) {
    for (const task of framework.tasks.values()) sendKnown(core, framework, task);
    return;
  }
  for (const t of request.tasks) reconcileTask(core, framework, t.taskId?.value ?? "", t.agentId?.value || undefined);
}
