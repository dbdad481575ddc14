/**
 * The frameworks part of an agent's /state in Mesos's shape: each framework with its
 * executors (and those that ended under completed_executors), each executor with its
 * running, queued and completed tasks. Read from the agent's records inside its actor.
 */
import { ExecutorPhase, type ExecutorView, type FrameworkView, type TaskView } from "../actors/agent/agent-view.js";
import { isTerminal, taskStateName } from "../actors/task-states.js";
import { resourcesJson } from "./resources-json.js";

type Json = Record<string, unknown>;

function taskJson(t: TaskView, e: ExecutorView, agentId: string): Json {
  return {
    id: t.info.taskId?.value ?? "",
    name: t.info.name,
    framework_id: e.frameworkId,
    executor_id: e.id,
    slave_id: agentId,
    state: taskStateName(t.state),
    resources: resourcesJson(t.info.resources),
    role: t.role,
  };
}

function executorJson(e: ExecutorView, agentId: string): Json {
  const tasks: Json[] = [];
  const queued: Json[] = [];
  const completed: Json[] = [];
  for (const t of e.tasks.values()) {
    const list = isTerminal(t.state) ? completed : t.launched ? tasks : queued;
    list.push(taskJson(t, e, agentId));
  }
  return {
    id: e.id,
    name: e.info.name,
    container: e.containerId,
    directory: e.sandbox,
    type: e.kind.toUpperCase(),
    state: e.phase,
    resources: resourcesJson(e.info.resources),
    tasks,
    queued_tasks: queued,
    completed_tasks: completed,
  };
}

function frameworkJson(f: FrameworkView, agentId: string): Json {
  const executors = [...f.executors.values()];
  const ended = (e: ExecutorView): boolean => e.phase === ExecutorPhase.TERMINATED;
  return {
    id: f.id,
    name: f.info.name,
    user: f.info.user,
    role: f.info.roles[0] ?? "*",
    roles: [...f.info.roles],
    hostname: f.info.hostname,
    checkpoint: f.info.checkpoint,
    failover_timeout: f.info.failoverTimeout,
    executors: executors.filter((e) => !ended(e)).map((e) => executorJson(e, agentId)),
    completed_executors: executors.filter(ended).map((e) => executorJson(e, agentId)),
  };
}

/** `frameworks` of the agent's /state (Mesos keeps ended frameworks under completed_frameworks). */
export function agentFrameworksJson(frameworks: ReadonlyMap<string, FrameworkView>, agentId: string): { frameworks: Json[]; completed_frameworks: Json[] } {
  return { frameworks: [...frameworks.values()].map((f) => frameworkJson(f, agentId)), completed_frameworks: [] };
}
