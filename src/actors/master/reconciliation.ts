/**
 * Reconciliation: the master answers with what it knows of each task, as UPDATE events
 * without a uuid (nothing to acknowledge). Explicit: the tasks named (unknown ones are
 * TASK_UNKNOWN, or TASK_UNREACHABLE/TASK_LOST when their agent is unreachable); implicit
 * (no tasks named): every task the master knows for the framework.
 *
 * After a failover, a task the master does not know on an agent that is still
 * transitioning (admitted in the registry, not reregistered yet), or named without an agent
 * while any agent is, gets no answer yet (as Mesos): the question waits in
 * core.pendingReconciliation and is answered when the agent reregisters or is marked
 * unreachable (answerPending).
 */
import type { ReconcileRequest } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason, type Task } from "../../gen/dcos/v1/tasks_pb.js";
import { AgentState } from "./agent-record.js";
import type { MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";

/** What a framework should hear for a task state (non-partition-aware ones never hear UNREACHABLE). */
function visibleState(framework: FrameworkRecord, state: TaskState): TaskState {
  return state === TaskState.UNREACHABLE && !framework.partitionAware ? TaskState.LOST : state;
}

function sendKnown(core: MasterState, framework: FrameworkRecord, task: Task): void {
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

/** An admitted agent this master has not heard back from since it started leading. */
export function isTransitioning(core: MasterState, agentId: string): boolean {
  if (!core.registrar.state().agents.has(agentId)) return false;
  const state = core.agents.get(agentId)?.state;
  return state === undefined || state === AgentState.ADMITTING;
}

/**
 * Whether any admitted agent may still reregister. Only agents the registry held when the
 * term began can be transitioning for long (an agent admitted since is active once its entry
 * commits); those no longer transitioning are pruned as they are met, so the thousands of
 * reregistrations after a failover do not each walk every agent.
 */
function anyTransitioning(core: MasterState): boolean {
  for (const id of core.recovering) {
    if (isTransitioning(core, id)) return true;
    core.recovering.delete(id);
  }
  return false;
}

/**
 * The answer for one task id: its latest state, or what the master can say without it,
 * or nothing yet when its agent (or, without an agent id, any agent) may still come back.
 */
export function reconcileTask(core: MasterState, framework: FrameworkRecord, taskId: string, agentId: string | undefined, transitioning = anyTransitioning): void {
  const task = framework.tasks.get(taskId);
  if (task) return sendKnown(core, framework, task);
  const agent = agentId ? core.agents.get(agentId) : undefined;
  const unreachable = agent?.state === AgentState.UNREACHABLE || (agentId !== undefined && core.registrar.state().unreachable.has(agentId));
  if (!unreachable && (agentId !== undefined ? isTransitioning(core, agentId) : transitioning(core))) {
    core.pendingReconciliation.add(agentId, framework.id, taskId);
    // A new leader's first reconciliations name every task, most of them waiting: no line built for each unless asked.
    if (core.log.isLevelEnabled("debug")) core.log.debug(
      { framework: framework.id, task: taskId, agent: agentId },
      `Not answering reconciliation of task ${taskId} yet: ${agentId ? `agent ${agentId}` : "an agent"} may still reregister after the failover`,
    );
    return;
  }
  const state = unreachable ? visibleState(framework, TaskState.UNREACHABLE) : TaskState.UNKNOWN;
  const status = core.masterStatus(
    { taskId, agentId },
    state,
    TaskStatus_Reason.RECONCILIATION,
    unreachable ? `Reconciliation: task ${taskId} is on unreachable agent ${agentId}` : `Reconciliation: task ${taskId} is unknown`,
  );
  core.forwardStatus(framework, status);
}

export function reconcile(core: MasterState, framework: FrameworkRecord, request: ReconcileRequest): void {
  core.metrics.message("reconcile");
  if (request.tasks.length === 0) {
    for (const task of framework.tasks.values()) sendKnown(core, framework, task);
    return;
  }
  let transitioning: boolean | undefined; // computed once per request, when needed
  const once = (c: MasterState): boolean => (transitioning ??= anyTransitioning(c));
  const before = core.pendingReconciliation.size;
  for (const t of request.tasks) reconcileTask(core, framework, t.taskId?.value ?? "", t.agentId?.value || undefined, once);
  const waiting = core.pendingReconciliation.size - before;
  if (waiting > 0) {
    core.log.info({ framework: framework.id, waiting }, `Reconciliation of ${waiting} task(s) waits for their agents to reregister or be marked unreachable`);
  }
}

/**
 * Agent agentId reregistered or was marked unreachable: answers the reconciliation that
 * waited for it, and, once no agent is transitioning, the questions that named no agent.
 */
export function answerPending(core: MasterState, agentId: string): void {
  const answer = (list: Array<{ frameworkId: string; taskId: string }>, agent: string | undefined): void => {
    for (const { frameworkId, taskId } of list) {
      const framework = core.frameworks.get(frameworkId);
      if (framework) reconcileTask(core, framework, taskId, agent);
    }
  };
  answer(core.pendingReconciliation.take(agentId), agentId);
  if (core.pendingReconciliation.hasAgentless() && !anyTransitioning(core)) answer(core.pendingReconciliation.take(undefined), undefined);
}
