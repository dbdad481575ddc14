/** Task-state facts for the master; the terminal set and labels are shared with the agent. */
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { isTerminalState, stateName } from "../agent/task-state.js";

export const isTerminal = isTerminalState;
/** "TASK_RUNNING" (log lines and messages). */
export const taskStateLabel = stateName;

/** "running" for TASK_STATE_RUNNING (the master/tasks_<state> metric names). */
export function metricStateName(state: TaskState): string {
  return (TaskState[state] ?? `state_${state}`).toLowerCase();
}
