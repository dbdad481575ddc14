/**
 * A task's sandbox as the web UI reads it through the master: the master knows where the
 * task ran and its sandbox directory (from the agent's status updates); the files come
 * from that agent's /files/browse and /files/read. Paths from the browser are relative to
 * the sandbox and may not climb out of it; the agent checks the result again.
 */
import type { MasterView } from "../actors/master/master-view.js";
import type { AgentInfo } from "../gen/dcos/v1/cluster_pb.js";
import type { Task } from "../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import { agentHttpOf } from "../frameworks/common/sandbox-output.js";

/** Where an agent's HTTP endpoint (/files/*) listens, as host:port; undefined when unknown. */
export type AgentHttpResolver = (agent: AgentInfo) => string | undefined;

/** The agent's own word (AgentInfo.http_port, on the host of its pid); undefined when it gave none. */
export const agentHttpFromInfo: AgentHttpResolver = agentHttpOf;

export interface TaskSandbox {
  agentId: string;
  agent: AgentInfo;
  /** Absolute path of the sandbox on the agent. */
  directory: string;
}

function findTask(core: MasterView, frameworkId: string, taskId: string): Task | undefined {
  const live = core.frameworks.get(frameworkId)?.tasks.get(taskId);
  if (live) return live;
  const completed = core.completedTasks.values();
  for (let i = completed.length - 1; i >= 0; i--) {
    const t = completed[i]!;
    if (t.taskId?.value === taskId && t.frameworkId?.value === frameworkId) return t;
  }
  return undefined;
}

/** Looks the task up inside the master; throws NOT_FOUND or FAILED_PRECONDITION saying why. */
export function taskSandbox(core: MasterView, frameworkId: string, taskId: string): TaskSandbox {
  const task = findTask(core, frameworkId, taskId);
  if (!task) throw new DcosError(Code.NOT_FOUND, `No task '${taskId}' of framework '${frameworkId}' is known to this master`);
  const directory = [...task.statuses].reverse().find((s) => s.sandboxDirectory)?.sandboxDirectory;
  if (!directory) throw new DcosError(Code.FAILED_PRECONDITION, `Task '${taskId}' has no sandbox yet: its agent has not reported one`);
  const agentId = task.agentId?.value ?? "";
  const agent = core.agents.get(agentId);
  if (!agent) throw new DcosError(Code.FAILED_PRECONDITION, `The agent '${agentId}' of task '${taskId}' is no longer registered`);
  return { agentId, agent: agent.info, directory };
}

/** The absolute path on the agent of `relative` (a path inside the sandbox, "" for the sandbox itself). */
export function sandboxPath(directory: string, relative: string | undefined): string {
  const rel = relative ?? "";
  if (rel.includes("\0")) throw new DcosError(Code.INVALID_ARGUMENT, "The path contains a NUL byte");
  if (rel.startsWith("/")) throw new DcosError(Code.INVALID_ARGUMENT, `The path '${rel}' must be relative to the sandbox`);
  const parts = rel.split("/").filter((p) => p !== "");
  if (parts.some((p) => p === ".." || p === ".")) {
    throw new DcosError(Code.INVALID_ARGUMENT, `The path '${rel}' contains a '.' or '..' component`);
  }
  return [directory.replace(/\/+$/, ""), ...parts].join("/");
}

export interface AgentAnswer {
  status: number;
  body: unknown;
}

/** GETs `/files/<op>` on the agent; an agent that does not answer is UNAVAILABLE. */
export async function agentFiles(address: string, op: "browse" | "read", query: Record<string, string>, timeoutMs = 5000, authorization?: string): Promise<AgentAnswer> {
  const url = `http://${address}/files/${op}?${new URLSearchParams(query).toString()}`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: authorization ? { authorization } : undefined });
  } catch (err) {
    throw new DcosError(Code.UNAVAILABLE, `The agent at ${address} did not answer /files/${op}: ${(err as Error).message}`, { cause: err });
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    throw new DcosError(Code.UNAVAILABLE, `The agent at ${address} answered /files/${op} with status ${response.status} and a body that is not JSON`);
  }
}
