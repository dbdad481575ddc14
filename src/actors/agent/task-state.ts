import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";

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
export function isTerminalState(state: TaskState): boolean {
  return TERMINAL.has(state);
}

/** "TASK_RUNNING" for logs and messages. */
export function stateName(state: TaskState): string {
  return `TASK_${TaskState[state] ?? String(state)}`;
}
