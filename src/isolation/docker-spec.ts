/**
 * What a Docker container needs beyond a ContainerConfig: the image, the network, port
 * mappings, bind mounts and the labels that let a restarted agent find it again. The agent
 * builds it from a task's ContainerInfo (type DOCKER); the composite containerizer sends a
 * config that carries one to the docker containerizer.
 *
 * Validation follows container-config.ts: bad input is INVALID_ARGUMENT naming the field.
 */
import { isAbsolute, normalize } from "node:path";
import { Code, DcosError } from "../runtime/error.js";
import type { ContainerConfig } from "./containerizer.js";

export type DockerNetwork = "host" | "bridge" | "none";

export interface DockerPortMapping {
  /** Must be one of the container's ports (taken from the task's port resources). */
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
}

/** A host directory bound into the container (a persistent volume, or a host_path volume). */
export interface DockerBind {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface DockerSpec {
  image: string;
  network: DockerNetwork;
  portMappings: readonly DockerPortMapping[];
  binds: readonly DockerBind[];
  privileged: boolean;
  /** Pull even when the image is present locally. */
  forcePull: boolean;
  /** Extra labels (task, framework, agent ids); ours (dcos.*) are added by the containerizer. */
  labels: Readonly<Record<string, string>>;
}

export interface DockerContainerConfig extends ContainerConfig {
  docker: DockerSpec;
}

export function isDockerConfig(config: ContainerConfig): config is DockerContainerConfig {
  return (config as Partial<DockerContainerConfig>).docker !== undefined;
}

/** Where the sandbox appears inside a Docker container (Mesos uses /mnt/mesos/sandbox). */
export const DOCKER_SANDBOX = "/mnt/dcos/sandbox";

/** Labels every container we start carries; recovery lists containers by them. */
export const LABELS = {
  managed: "dcos.managed",
  runtimeRoot: "dcos.runtime_root",
  containerId: "dcos.container_id",
  sandbox: "dcos.sandbox",
  taskId: "dcos.task_id",
  frameworkId: "dcos.framework_id",
  agentId: "dcos.agent_id",
} as const;

// A reference as `docker pull` accepts it: [registry[:port]/]name[:tag][@digest], lower case path.
const IMAGE = /^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
/** Docker refuses less than 6 MiB of memory. */
export const MIN_DOCKER_MEM_MB = 6;

function invalid(id: string, why: string): never {
  throw new DcosError(Code.INVALID_ARGUMENT, `Invalid docker container ${id}: ${why}`);
}

function validContainerPath(id: string, p: string, what: string): void {
  if (!isAbsolute(p) || p.includes("\0") || normalize(p) !== p.replace(/\/+$/, "") || p === "/") {
    invalid(id, `${what} ${JSON.stringify(p)} must be an absolute, normalized path other than /`);
  }
}

/** Throws INVALID_ARGUMENT for the first thing wrong with the docker part of the config. */
export function validateDockerSpec(config: DockerContainerConfig): void {
  const { id, docker } = config;
  if (typeof docker.image !== "string" || !IMAGE.test(docker.image)) invalid(id, `image ${JSON.stringify(docker.image)} is not a valid image reference`);
  if (!["host", "bridge", "none"].includes(docker.network)) invalid(id, `network '${docker.network}' is not host, bridge or none`);
  const ports = new Set(config.resources?.ports ?? []);
  const seen = new Set<string>();
  for (const m of docker.portMappings) {
    if (docker.network !== "bridge") invalid(id, `port mappings need bridge networking (network is ${docker.network}; with host networking use $PORT0…)`);
    if (!Number.isInteger(m.containerPort) || m.containerPort < 1 || m.containerPort > 65535) invalid(id, `container port ${m.containerPort} is outside 1..65535`);
    if (!ports.has(m.hostPort)) {
      invalid(id, `host port ${m.hostPort} is not one of the task's port resources (${[...ports].join(", ") || "none"})`);
    }
    if (m.protocol !== "tcp" && m.protocol !== "udp") invalid(id, `protocol '${String(m.protocol)}' is not tcp or udp`);
    const key = `${m.hostPort}/${m.protocol}`;
    if (seen.has(key)) invalid(id, `host port ${key} is mapped twice`);
    seen.add(key);
  }
  const paths = new Set<string>([DOCKER_SANDBOX]);
  for (const b of docker.binds) {
    if (!isAbsolute(b.hostPath) || b.hostPath.includes("\0")) invalid(id, `volume host path ${JSON.stringify(b.hostPath)} must be absolute`);
    validContainerPath(id, b.containerPath, "volume container path");
    if (paths.has(b.containerPath)) invalid(id, `container path ${b.containerPath} is mounted twice (the sandbox is at ${DOCKER_SANDBOX})`);
    paths.add(b.containerPath);
  }
  const mem = config.resources?.memMb;
  if (mem !== undefined && mem > 0 && mem < MIN_DOCKER_MEM_MB) invalid(id, `mem ${mem} MB is below Docker's minimum of ${MIN_DOCKER_MEM_MB} MB`);
  for (const [k, v] of Object.entries(docker.labels)) {
    if (typeof v !== "string" || k.length === 0) invalid(id, `label ${JSON.stringify(k)} must have a string value`);
  }
}
