/**
 * Host path volumes of an app (Marathon's `container.volumes` entries with `hostPath`,
 * `containerPath` and `mode`, for DOCKER and MESOS containers alike): validated up front
 * with what no agent allows (a relative host path, `..`, `/`, anything under /proc, /sys,
 * /dev: 422), then given to the task's ContainerInfo as volumes with host_path. The agent
 * decides the rest (its --allowed-host-paths, its own files, whether a MESOS container has
 * a mount namespace) and answers TASK_ERROR with the reason.
 *
 * Persistent volumes (`persistent`) are residency.ts's. Other kinds Marathon knows
 * (`external`, `secret`) are refused with 422: silently running without them would be worse.
 */
import { hostPathShapeProblem } from "../../isolation/host-paths.js";
import type { Json } from "./app-json.js";

export interface HostVolumeSpec {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

const isObj = (v: unknown): v is { [k: string]: Json } => typeof v === "object" && v !== null && !Array.isArray(v);

function volumesOf(app: { [k: string]: Json }): Json[] {
  const c = app["container"];
  return isObj(c) && Array.isArray(c["volumes"]) ? c["volumes"] : [];
}

/** A container path that stays in the container: non-empty, no NUL, no `..`, not `/`. */
export function containerPathProblem(path: Json | undefined): string | undefined {
  if (typeof path !== "string" || path === "") return "containerPath is required";
  if (path.includes("\0")) return "containerPath must not contain NUL";
  if (path.split("/").includes("..")) return `containerPath '${path}' must not contain '..'`;
  if (/^\/+$/.test(path)) return "a volume cannot be mounted at /";
  return undefined;
}

/** Marathon's rules for the app's non-persistent volumes (normalizeApp calls it). */
export function normalizeHostVolumes(app: { [k: string]: Json }, bad: (path: string, error: string) => void): void {
  // containerPath → whether a persistent volume has it (two persistent ones: residency.ts says so).
  const seen = new Map<string, boolean>();
  volumesOf(app).forEach((v, i) => {
    const at = `/container/volumes(${i})`;
    if (!isObj(v)) return bad(at, "a volume must be an object");
    const path = v["containerPath"];
    const persistent = v["persistent"] !== undefined && v["persistent"] !== null;
    if (typeof path === "string" && path !== "") {
      const other = seen.get(path);
      if (other !== undefined && !(other && persistent)) bad(`${at}/containerPath`, `two volumes have containerPath '${path}'`);
      seen.set(path, persistent || other === true);
    }
    if (persistent) return; // residency.ts
    if (v["external"] !== undefined) return bad(`${at}/external`, "external volumes (Docker volume drivers) are not supported: use hostPath for a directory of the agent, or persistent for a local persistent volume");
    if (v["secret"] !== undefined) return bad(`${at}/secret`, "secret volumes are not supported: give the secret as an environment variable (env: {NAME: {secret: ...}})");
    if (v["hostPath"] === undefined || v["hostPath"] === null) return bad(`${at}/hostPath`, "a volume needs hostPath (a directory or file of the agent) or persistent (a persistent local volume)");
    const hostPath = v["hostPath"];
    if (typeof hostPath === "string" && hostPath !== "" && !hostPath.startsWith("/")) {
      bad(`${at}/hostPath`, `hostPath '${hostPath}' is relative: host paths relative to the sandbox (Mesos's, e.g. to show a persistent volume at an absolute path) are not supported; give an absolute path on the agent`);
    } else {
      const hostProblem = hostPathShapeProblem(hostPath);
      if (hostProblem) bad(`${at}/hostPath`, hostProblem);
    }
    const containerProblem = containerPathProblem(path);
    if (containerProblem) bad(`${at}/containerPath`, containerProblem);
    if (v["mode"] !== "RO" && v["mode"] !== "RW") bad(`${at}/mode`, "mode must be RO or RW");
  });
}

/** The app's host path volumes (normalized: every non-persistent volume is one). */
export function hostVolumeSpecs(app: { [k: string]: Json }): HostVolumeSpec[] {
  return volumesOf(app)
    .filter(isObj)
    .filter((v) => typeof v["hostPath"] === "string" && (v["persistent"] === undefined || v["persistent"] === null))
    .map((v) => ({ hostPath: v["hostPath"] as string, containerPath: String(v["containerPath"]), readOnly: v["mode"] === "RO" }));
}
