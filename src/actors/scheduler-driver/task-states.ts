import { TaskStatus_Reason, TaskStatus_Source, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { isTerminalState, stateName } from "../agent/task-state.js";

// The task-state facts live with the agent (the first to need them); schedulers get them from here too.
export { isTerminalState as isTerminal, stateName as taskStateName };

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
  return `${stateName(status.state)}${message}${why.length > 0 ? ` (${why.join(", ")})` : ""}`;
}
