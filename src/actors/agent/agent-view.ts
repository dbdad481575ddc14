/**
 * The agent's frameworks, executors and tasks as code outside the agent reads them (the
 * agent's /state, operator/agent-state-json.ts): read-only shapes that the agent's own
 * records (agent-records.ts, which only the agent actor changes) satisfy.
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { ExecutorInfo, TaskInfo, TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import type { ExecutorKind, ExecutorPhase } from "./agent-records.js";

export { ExecutorPhase, type ExecutorKind } from "./agent-records.js";

export interface TaskView {
  readonly info: TaskInfo;
  readonly role: string;
  readonly state: TaskState;
  /** Sent to the executor; false while queued. */
  readonly launched: boolean;
}

export interface ExecutorView {
  readonly id: string;
  readonly info: ExecutorInfo;
  readonly frameworkId: string;
  readonly kind: ExecutorKind;
  readonly containerId: string;
  readonly sandbox: string;
  readonly phase: ExecutorPhase;
  readonly tasks: ReadonlyMap<string, TaskView>;
}

export interface FrameworkView {
  readonly id: string;
  readonly info: FrameworkInfo;
  readonly executors: ReadonlyMap<string, ExecutorView>;
}
