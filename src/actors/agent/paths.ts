/**
 * Where the agent keeps things under its work directory (the Mesos layout):
 *
 *   <work>/agents/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>   sandboxes
 *   <work>/meta/status-updates.journal                                      update streams (update-journal.ts; beside the next line's directory)
 *   <work>/meta/status-updates/<fw>/<task>.updates                          the same, before session 9
 *
 * Ids become path components, so each is checked: non-empty, no '/', no NUL, not '.' or '..'.
 */
import { join } from "node:path";
import { Code, DcosError } from "../../runtime/error.js";

/** The id as a single path component; INVALID_ARGUMENT if it cannot be one. */
export function pathComponent(kind: string, id: string): string {
  if (id.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${kind}: it is empty`);
  if (id.includes("/") || id.includes("\0")) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${kind} ${JSON.stringify(id)}: it contains '/' or NUL`);
  }
  if (id === "." || id === "..") throw new DcosError(Code.INVALID_ARGUMENT, `Invalid ${kind} '${id}': it names a directory`);
  return id;
}

export interface SandboxIds {
  agentId: string;
  frameworkId: string;
  executorId: string;
  containerId: string;
}

export function sandboxPath(workDir: string, ids: SandboxIds): string {
  return join(
    workDir,
    "agents",
    pathComponent("agent id", ids.agentId),
    "frameworks",
    pathComponent("framework id", ids.frameworkId),
    "executors",
    pathComponent("executor id", ids.executorId),
    "runs",
    pathComponent("container id", ids.containerId),
  );
}

export function statusUpdatesDir(workDir: string): string {
  return join(workDir, "meta", "status-updates");
}
