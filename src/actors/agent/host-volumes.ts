/**
 * Host path volumes of the container the agent launches (the volumes with host_path in its
 * ContainerInfo: a command task's own, or its executor's): checked when the task arrives,
 * and resolved just before the container starts (src/isolation/host-paths.ts says what is
 * refused and why).
 *
 * When the task arrives (`hostVolumeRefusal`, before anything touches the disk), TASK_ERROR:
 * - TASK_UNAUTHORIZED: a host path the agent's policy refuses (/, /proc, /sys, /dev, its
 *   work directory and key files, outside --allowed-host-paths);
 * - TASK_INVALID: a volume without host_path, a container path that escapes the sandbox,
 *   and what a container without its own mount namespace cannot do: posix tasks without
 *   the namespaces isolator see a volume through a symlink in their sandbox, so the
 *   container path must be relative (inside the sandbox, as in Mesos) and the volume
 *   cannot be read-only. Docker containers and --isolation=…,namespaces can do both.
 * Just before launch (`resolveHostPaths`): symlinks are resolved and the real path checked
 * again (TASK_ERROR if refused); a host path that does not exist fails the launch.
 */
import { Volume_Mode } from "../../gen/dcos/v1/resources_pb.js";
import { ContainerInfo_Type, TaskStatus_Reason, type ContainerInfo } from "../../gen/dcos/v1/tasks_pb.js";
import type { ContainerConfig } from "../../isolation/containerizer.js";
import { isDockerConfig } from "../../isolation/docker-spec.js";
import { hostPathPolicy, hostPathProblem, realHostPath, type HostPathPolicy } from "../../isolation/host-paths.js";
import type { AgentOptions } from "./agent-options.js";
import { containerVolumeProblem, type ContainerVolume } from "../../isolation/volumes.js";

const policies = new WeakMap<object, HostPathPolicy>();

/** The agent's policy from its options (--allowed-host-paths; never its work dir nor key files). */
export function agentHostPathPolicy(opts: Pick<AgentOptions, "workDir" | "allowedHostPaths" | "protectedHostPaths">): HostPathPolicy {
  let p = policies.get(opts);
  if (!p) {
    p = hostPathPolicy(opts.allowedHostPaths, [{ path: opts.workDir, what: "the agent's work directory" }, ...(opts.protectedHostPaths ?? [])]);
    policies.set(opts, p);
  }
  return p;
}

/** The host path volumes of a container (those with host_path); unspecified mode is RW. */
export function hostVolumes(container: ContainerInfo | undefined): ContainerVolume[] {
  return (container?.volumes ?? [])
    .filter((v) => v.hostPath !== "")
    .map((v) => ({ id: v.hostPath, hostPath: v.hostPath, containerPath: v.containerPath, readOnly: v.mode === Volume_Mode.RO, source: "host" as const }));
}

export interface Refusal {
  reason: TaskStatus_Reason;
  message: string;
}

/**
 * Why the agent refuses the volumes of a container it is to launch; undefined: none.
 * `mountNamespace`: the containerizer gives non-Docker containers their own mount namespace.
 */
export function hostVolumeRefusal(container: ContainerInfo | undefined, policy: HostPathPolicy, mountNamespace: boolean): Refusal | undefined {
  const docker = container?.type === ContainerInfo_Type.DOCKER;
  const invalid = (message: string): Refusal => ({ reason: TaskStatus_Reason.TASK_INVALID, message });
  for (const v of container?.volumes ?? []) {
    if (v.hostPath === "") return invalid(`The volume at '${v.containerPath}' has no host_path (persistent volumes come with the task's disk resources, not in container.volumes)`);
    const problem = hostPathProblem(v.hostPath, policy);
    if (problem) return { reason: TaskStatus_Reason.TASK_UNAUTHORIZED, message: `Refused to mount a host path: ${problem}` };
    const vol = hostVolumes({ ...container!, volumes: [v] })[0]!;
    const shape = containerVolumeProblem(vol);
    if (shape) return invalid(`Invalid host path volume: ${shape}`);
    if (docker || mountNamespace) continue;
    const without = "this agent's posix containers have no mount namespace (--isolation without namespaces), so a host path is shown as a symlink in the sandbox";
    if (vol.containerPath.startsWith("/")) return invalid(`Host path volume ${v.hostPath} has the absolute container path '${v.containerPath}': ${without}; use a relative container path, or a DOCKER container`);
    if (vol.readOnly) return invalid(`Host path volume ${v.hostPath} is read-only: ${without}, which cannot be read-only; use RW, or a DOCKER container`);
  }
  return undefined;
}

/**
 * Just before launch: each host path volume of the config (its volumes, or its Docker
 * binds) gets its real path, checked again against the policy. Throws HostPathRefused or
 * FAILED_PRECONDITION (host-paths.ts).
 */
export async function resolveHostPaths(config: ContainerConfig, container: ContainerInfo | undefined, policy: HostPathPolicy): Promise<void> {
  const given = hostVolumes(container);
  if (given.length === 0) return;
  const real = new Map<string, string>();
  for (const v of given) real.set(v.hostPath, await realHostPath(v.hostPath, policy));
  if (isDockerConfig(config)) {
    config.docker = { ...config.docker, binds: config.docker.binds.map((b) => ({ ...b, hostPath: real.get(b.hostPath) ?? b.hostPath })) };
    return;
  }
  config.volumes = (config.volumes ?? []).map((v) => (v.source === "host" ? { ...v, hostPath: real.get(v.hostPath) ?? v.hostPath } : v));
}
