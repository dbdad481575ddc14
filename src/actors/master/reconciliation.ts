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
import type { PendingQuestions } from "./pending-reconciliation.js";

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

/** An admitted agent this master has not heard back from since it started leading (`agent`: its record, when the caller has it). */
export function isTransitioning(core: MasterState, agentId: string, agent = core.agents.get(agentId)): boolean {
  if (!core.registrar.state().agents.has(agentId)) return false;
  return agent === undefined || agent.state === AgentState.ADMITTING;
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

/** What the master can say of a task it does not know, by the agent it was named with. */
interface AgentVerdict {
  /** The agent is unreachable (known as such, or in the registry's unreachable list). */
  unreachable: boolean;
  /** No answer yet: the agent (or, without an agent id, any agent) may still reregister. */
  waits: boolean;
}

function agentVerdict(core: MasterState, agentId: string | undefined, transitioning: (core: MasterState) => boolean): AgentVerdict {
  if (agentId === undefined) return { unreachable: false, waits: transitioning(core) };
  const agent = core.agents.get(agentId);
  const unreachable = agent?.state === AgentState.UNREACHABLE || core.registrar.state().unreachable.has(agentId);
  return { unreachable, waits: !unreachable && isTransitioning(core, agentId, agent) };
}

/** The answer for a task the master does not know and that does not wait: UNKNOWN, or UNREACHABLE/LOST. */
function sendUnknown(core: MasterState, framework: FrameworkRecord, taskId: string, agentId: string | undefined, unreachable: boolean): void {
  const state = unreachable ? visibleState(framework, TaskState.UNREACHABLE) : TaskState.UNKNOWN;
  const status = core.masterStatus(
    { taskId, agentId },
    state,
    TaskStatus_Reason.RECONCILIATION,
    unreachable ? `Reconciliation: task ${taskId} is on unreachable agent ${agentId}` : `Reconciliation: task ${taskId} is unknown`,
  );
  core.forwardStatus(framework, status);
}

function logWaiting(core: MasterState, framework: FrameworkRecord, taskId: string, agentId: string | undefined): void {
  // A new leader's first reconciliations name every task, most of them waiting: no line built for each unless asked.
  if (core.log.isLevelEnabled("debug")) core.log.debug(
    { framework: framework.id, task: taskId, agent: agentId },
    `Not answering reconciliation of task ${taskId} yet: ${agentId ? `agent ${agentId}` : "an agent"} may still reregister after the failover`,
  );
}

/**
 * The answer for one task id: its latest state, or what the master can say without it,
 * or nothing yet when its agent (or, without an agent id, any agent) may still come back.
 */
export function reconcileTask(core: MasterState, framework: FrameworkRecord, taskId: string, agentId: string | undefined, transitioning = anyTransitioning): void {
  const task = framework.tasks.get(taskId);
  if (task) return sendKnown(core, framework, task);
  const verdict = agentVerdict(core, agentId, transitioning);
  if (verdict.waits) {
    core.pendingReconciliation.add(agentId, framework.id, taskId);
    logWaiting(core, framework, taskId, agentId);
    return;
  }
  sendUnknown(core, framework, taskId, agentId, verdict.unreachable);
}

/**
 * Explicit: each named task as reconcileTask answers it. Nothing in the call changes what
 * the master knows of an agent, so what it can say of the tasks it does not know on one
 * agent (and where their questions wait) is looked up once for a run of tasks named with
 * the same agent, not per task (after a failover most questions are about such tasks,
 * named 3-4 times each while their agents come back: docs/scale.md, "Session 13").
 */
export function reconcile(core: MasterState, framework: FrameworkRecord, request: ReconcileRequest): void {
  core.metrics.message("reconcile");
  if (request.tasks.length === 0) {
    for (const task of framework.tasks.values()) sendKnown(core, framework, task);
    return;
  }
  let transitioning: boolean | undefined; // computed once per request, when needed
  const once = (c: MasterState): boolean => (transitioning ??= anyTransitioning(c));
  const before = core.pendingReconciliation.size;
  let runAgent: string | undefined | null = null; // the agent id of the run of tasks (null: none yet)
  let verdict: AgentVerdict = { unreachable: false, waits: false };
  let questions: PendingQuestions | undefined;
  for (const t of request.tasks) {
    const taskId = t.taskId?.value ?? "";
    const task = framework.tasks.get(taskId);
    if (task) {
      sendKnown(core, framework, task);
      continue;
    }
    const agentId = t.agentId?.value || undefined;
    if (agentId !== runAgent) {
      runAgent = agentId;
      verdict = agentVerdict(core, agentId, once);
      questions = undefined;
    }
    if (verdict.waits) {
      (questions ??= core.pendingReconciliation.questions(agentId, framework.id)).add(taskId);
      logWaiting(core, framework, taskId, agentId);
    } else {
      sendUnknown(core, framework, taskId, agentId, verdict.unreachable);
    }
  }
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
  const answer = (taken: ReadonlyMap<string, PendingQuestions>, agent: string | undefined): void => {
    for (const [frameworkId, questions] of taken) {
      const framework = core.frameworks.get(frameworkId);
      if (framework) for (const taskId of questions.taskIds) reconcileTask(core, framework, taskId, agent);
    }
  };
  answer(core.pendingReconciliation.take(agentId), agentId);
  if (core.pendingReconciliation.hasAgentless() && !anyTransitioning(core)) answer(core.pendingReconciliation.take(undefined), undefined);
}
