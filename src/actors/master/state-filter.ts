/**
 * The master's state and events as one caller may see them (ACLs view_frameworks,
 * view_tasks, view_executors; see security/auth/view-acls.ts): frameworks by their user,
 * tasks by the user they run as (Task.user, else their framework's), executors by their
 * command's user (else their framework's). A task or executor of a framework the caller
 * may not see is never visible. Agents, the master and maintenance stay visible to every
 * caller that passed authentication.
 */
import { create } from "@bufbuild/protobuf";
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { GetStateResponseSchema, type ClusterEvent, type GetStateResponse } from "../../gen/dcos/v1/operator_pb.js";
import type { ExecutorInfo, Task } from "../../gen/dcos/v1/tasks_pb.js";
import type { ViewPermissions } from "../../security/auth/view-acls.js";

/** Decides visibility of one caller, knowing the users of the frameworks it has seen. */
export class VisibleTo {
  /** Framework id → its user (undefined: not known to this filter). */
  private readonly users = new Map<string, string>();

  constructor(readonly view: ViewPermissions) {}

  learn(info: FrameworkInfo | undefined): void {
    const id = info?.id?.value;
    if (id) this.users.set(id, info.user);
  }

  forget(frameworkId: string): void {
    this.users.delete(frameworkId);
  }

  framework(id: string | undefined): boolean {
    if (this.view.all) return true;
    const user = id === undefined ? undefined : this.users.get(id);
    return user !== undefined && this.view.framework(user);
  }

  task(t: Task): boolean {
    if (this.view.all) return true;
    const id = t.frameworkId?.value;
    return this.framework(id) && this.view.task(t.user || this.users.get(id!)!);
  }

  executor(info: ExecutorInfo | undefined): boolean {
    if (this.view.all) return true;
    const id = info?.frameworkId?.value;
    return this.framework(id) && this.view.executor(info?.command?.user || this.users.get(id!)!);
  }
}

/** A filter that knows the frameworks of `state`. */
export function visibleIn(state: GetStateResponse, view: ViewPermissions): VisibleTo {
  const v = new VisibleTo(view);
  for (const f of state.getFrameworks?.frameworks ?? []) v.learn(f.frameworkInfo);
  for (const info of state.getFrameworks?.completedFrameworks ?? []) v.learn(info);
  return v;
}

/** The state as `view` may see it (the same object when it may see everything). */
export function filterState(state: GetStateResponse, view: ViewPermissions, visible: VisibleTo = visibleIn(state, view)): GetStateResponse {
  if (view.all) return state;
  const f = state.getFrameworks;
  const t = state.getTasks;
  const tasks = (list: readonly Task[] | undefined) => (list ?? []).filter((x) => visible.task(x));
  return create(GetStateResponseSchema, {
    ...state,
    getFrameworks: f && {
      ...f,
      frameworks: f.frameworks.filter((e) => visible.framework(e.frameworkInfo?.id?.value)),
      completedFrameworks: f.completedFrameworks.filter((info) => visible.framework(info.id?.value)),
    },
    getTasks: t && { ...t, tasks: tasks(t.tasks), unreachableTasks: tasks(t.unreachableTasks), completedTasks: tasks(t.completedTasks) },
    getExecutors: state.getExecutors && { ...state.getExecutors, executors: state.getExecutors.executors.filter((e) => visible.executor(e.executorInfo)) },
  });
}

/**
 * Follows a stream of cluster events for one caller (after its SUBSCRIBED state): which
 * events it may see, learning frameworks and tasks as they are added.
 */
export class EventVisibility {
  /** "framework/task" of the visible tasks. */
  private readonly tasks = new Set<string>();

  constructor(
    state: GetStateResponse,
    private readonly visible: VisibleTo,
  ) {
    const t = state.getTasks;
    for (const list of [t?.tasks, t?.unreachableTasks, t?.completedTasks]) for (const x of list ?? []) if (visible.task(x)) this.tasks.add(key(x.frameworkId?.value, x.taskId?.value));
  }

  /** Whether the caller sees `e` (every event when it may see everything). */
  sees(e: ClusterEvent): boolean {
    const all = this.visible.view.all;
    switch (e.kind.case) {
      case "taskAdded": {
        const t = e.kind.value.task;
        if (!t || !this.visible.task(t)) return all;
        this.tasks.add(key(t.frameworkId?.value, t.taskId?.value));
        return true;
      }
      case "taskUpdated":
      case "statusUpdate":
        return all || this.tasks.has(key(e.kind.value.frameworkId?.value, e.kind.value.status?.taskId?.value));
      case "frameworkAdded":
      case "frameworkUpdated":
        this.visible.learn(e.kind.value.framework?.frameworkInfo);
        return this.visible.framework(e.kind.value.framework?.frameworkInfo?.id?.value);
      case "frameworkRemoved": {
        const info = e.kind.value.frameworkInfo;
        this.visible.learn(info);
        return this.visible.framework(info?.id?.value);
      }
      case "offersMade":
        return this.visible.framework(e.kind.value.offers[0]?.frameworkId?.value);
      case "offersDeclined":
        return this.visible.framework(e.kind.value.frameworkId?.value);
      case "offerRescinded":
        return this.visible.framework(e.kind.value.offer?.frameworkId?.value);
      default:
        return true;
    }
  }
}

function key(frameworkId: string | undefined, taskId: string | undefined): string {
  return `${frameworkId ?? ""}/${taskId ?? ""}`;
}
