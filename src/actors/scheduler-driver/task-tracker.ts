import type { Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import type { TaskInfo, TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { isTerminal } from "../task-states.js";

/** A task to reconcile explicitly. */
export interface TrackedTask {
  taskId: string;
  agentId: string;
}

/**
 * The tasks the scheduler launched or heard of that have not reached a terminal state,
 * with their agents: what the driver reconciles explicitly after a resubscription, so a
 * task the master lost track of comes back as UNKNOWN instead of being forgotten.
 */
export class TaskTracker {
  private readonly tasks = new Map<string, string>();

  launching(operations: readonly Offer_Operation[]): void {
    for (const op of operations) {
      const tasks: TaskInfo[] =
        op.kind.case === "launch" ? op.kind.value.taskInfos : op.kind.case === "launchGroup" ? (op.kind.value.taskGroup?.tasks ?? []) : [];
      for (const task of tasks) if (task.taskId) this.tasks.set(task.taskId.value, task.agentId?.value ?? "");
    }
  }

  observe(status: TaskStatus): void {
    const id = status.taskId?.value;
    if (!id) return;
    if (isTerminal(status.state)) this.tasks.delete(id);
    else this.tasks.set(id, status.agentId?.value || this.tasks.get(id) || "");
  }

  list(): TrackedTask[] {
    return [...this.tasks].map(([taskId, agentId]) => ({ taskId, agentId }));
  }

  get size(): number {
    return this.tasks.size;
  }
}
