/** Questions the pages ask of /state: tasks by framework, agent and state; lookups by id. */
import type { AgentJson, FrameworkJson, StateJson, TaskJson } from "./api.js";

/** Active frameworks, then completed ones. */
export function allFrameworks(state: StateJson): FrameworkJson[] {
  return [...state.frameworks, ...(state.completed_frameworks ?? [])];
}

/** Every task the master lists: active, unreachable and completed. */
export function allTasks(state: StateJson): TaskJson[] {
  const out: TaskJson[] = [];
  for (const f of allFrameworks(state)) out.push(...(f.tasks ?? []), ...(f.unreachable_tasks ?? []), ...(f.completed_tasks ?? []));
  return out;
}

/** Task counts per Mesos state name ("TASK_RUNNING": 3), over every listed task. */
export function tasksByState(state: StateJson): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const t of allTasks(state)) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export function findAgent(state: StateJson, id: string): AgentJson | undefined {
  return state.slaves.find((a) => a.id === id);
}

export function findFramework(state: StateJson, id: string): FrameworkJson | undefined {
  return allFrameworks(state).find((f) => f.id === id);
}

export function findTask(state: StateJson, frameworkId: string, taskId: string): TaskJson | undefined {
  const f = findFramework(state, frameworkId);
  if (!f) return undefined;
  return [...(f.tasks ?? []), ...(f.unreachable_tasks ?? []), ...(f.completed_tasks ?? [])].find((t) => t.id === taskId);
}

export function tasksOnAgent(state: StateJson, agentId: string): TaskJson[] {
  return allTasks(state).filter((t) => t.slave_id === agentId);
}

export function frameworkName(state: StateJson, id: string): string {
  return findFramework(state, id)?.name ?? id;
}

export function agentName(state: StateJson, id: string): string {
  return findAgent(state, id)?.hostname ?? id;
}

/** Items one of whose fields contains `text` (lower case), all when it is empty. */
export function matching<T>(items: T[], text: string, fields: (item: T) => string[]): T[] {
  if (!text) return items;
  return items.filter((item) => fields(item).some((f) => f.toLowerCase().includes(text)));
}
