/**
 * Task-state facts shared by the agent, the master, the scheduler driver and the operator views:
 * the terminal set and the names Mesos operators read ("TASK_RUNNING", "REASON_…", "SOURCE_…").
 */
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type TaskStatus } from "../gen/dcos/v1/tasks_pb.js";

const TERMINAL = new Set<TaskState>([
  TaskState.FINISHED,
  TaskState.FAILED,
  TaskState.KILLED,
  TaskState.ERROR,
  TaskState.LOST,
  TaskState.DROPPED,
  TaskState.GONE,
  TaskState.GONE_BY_OPERATOR,
]);

/** FINISHED, FAILED, KILLED, ERROR, LOST, DROPPED, GONE and GONE_BY_OPERATOR end a task for good. */
export function isTerminal(state: TaskState): boolean {
  return TERMINAL.has(state);
}

/** "TASK_RUNNING" (logs, messages, Mesos's /state JSON). */
export function taskStateName(state: TaskState): string {
  return `TASK_${TaskState[state] ?? String(state)}`;
}

/** "running" for TASK_STATE_RUNNING (the master/tasks_<state> metric names). */
export function metricStateName(state: TaskState): string {
  return (TaskState[state] ?? `state_${state}`).toLowerCase();
}

/** REASON_COMMAND_EXECUTOR_FAILED, …, or "" when no reason is set. */
export function reasonName(reason: TaskStatus_Reason): string {
  return reason === TaskStatus_Reason.UNSPECIFIED ? "" : `REASON_${TaskStatus_Reason[reason] ?? reason}`;
}

/** SOURCE_AGENT, …, or "" when no source is set. */
export function sourceName(source: TaskStatus_Source): string {
  return source === TaskStatus_Source.UNSPECIFIED ? "" : `SOURCE_${TaskStatus_Source[source] ?? source}`;
}

/** One line about a status: "TASK_FAILED: exited with 3 (SOURCE_EXECUTOR, REASON_COMMAND_EXECUTOR_FAILED)". */
export function describeStatus(status: TaskStatus): string {
  const why = [sourceName(status.source), reasonName(status.reason)].filter((s) => s !== "");
  const message = status.message ? `: ${status.message}` : "";
  return `${taskStateName(status.state)}${message}${why.length > 0 ? ` (${why.join(", ")})` : ""}`;
}
