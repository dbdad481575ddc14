/**
 * Persistent volumes as resources: which disk resources are volumes, and what makes a
 * volume's id or container path unusable. The master refuses such a CREATE and the agent
 * refuses to make its directory (actors/agent/volumes.ts) by the same rule.
 */
import { isAbsolute, normalize, sep } from "node:path";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";

const ID = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Why a persistent volume's id or container path is unusable, or undefined. */
export function volumeProblem(r: Resource): string | undefined {
  const id = r.disk?.persistence?.id ?? "";
  if (!ID.test(id) || id.length > 200) return `persistence id ${JSON.stringify(id)} must be letters, digits, '.', '_' or '-' (not starting with '.' or '-'), so it cannot escape the volumes directory`;
  const path = r.disk?.volume?.containerPath ?? "";
  if (!path) return `volume ${id} needs disk.volume.container_path`;
  if (path.includes("\0")) return `volume ${id} has a container path with NUL`;
  const n = normalize(path);
  if (!isAbsolute(path) && (n === ".." || n.startsWith(`..${sep}`) || n === ".")) return `volume ${id} has container path '${path}', which escapes the sandbox`;
  if (isAbsolute(path) && n === "/") return `volume ${id} cannot be mounted at /`;
  return undefined;
}

export function isPersistentVolume(r: Resource): boolean {
  return (r.disk?.persistence?.id ?? "") !== "";
}
