import { create } from "@bufbuild/protobuf";
import { StatusUpdateSchema, type StatusUpdate } from "../../gen/dcos/v1/internal_pb.js";
import { TaskStatus_Reason, TaskStatus_Source, TaskStatusSchema, type TaskState, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";


export interface StatusFields {
  frameworkId: string;
  taskId: string;
  state: TaskState;
  agentId?: string;
  executorId?: string;
  source?: TaskStatus_Source;
  reason?: TaskStatus_Reason;
  message?: string;
  /** Milliseconds since the epoch. */
  now: number;
  /** The update's uuid: drawn by the caller from its seeded Random (`random.uuidBytes()`). */
  uuid: Uint8Array;
}

/** A StatusUpdate (and its TaskStatus) with the given uuid. */
export function statusUpdate(f: StatusFields): StatusUpdate {
  const uuid = f.uuid;
  const status = create(TaskStatusSchema, {
    taskId: { value: f.taskId },
    state: f.state,
    message: f.message ?? "",
    source: f.source ?? TaskStatus_Source.AGENT,
    reason: f.reason ?? TaskStatus_Reason.UNSPECIFIED,
    timestamp: f.now / 1000,
    uuid,
    agentId: f.agentId ? { value: f.agentId } : undefined,
    executorId: f.executorId ? { value: f.executorId } : undefined,
  });
  return wrapStatus(status, f.frameworkId, f.agentId, f.executorId);
}

/** Wraps a TaskStatus (e.g. from an executor) into the StatusUpdate the master receives. */
export function wrapStatus(status: TaskStatus, frameworkId: string, agentId?: string, executorId?: string): StatusUpdate {
  return create(StatusUpdateSchema, {
    frameworkId: { value: frameworkId },
    executorId: executorId ? { value: executorId } : undefined,
    agentId: agentId ? { value: agentId } : undefined,
    status,
    uuid: status.uuid,
    latestState: status.state,
  });
}
