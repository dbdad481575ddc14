/**
 * The agent flag `--containerizers=mesos|docker,mesos|docker`: which containerizers run
 * tasks. "mesos" is the posix containerizer with the isolators of `--isolation`; "docker"
 * runs tasks whose ContainerInfo is of type DOCKER through the local Docker engine. With
 * both, a composite chooses per task.
 */
import { Code, DcosError } from "../runtime/error.js";
import type { Logger } from "../runtime/log.js";
import type { Metrics } from "../metrics/metrics.js";
import { CompositeContainerizer } from "./composite-containerizer.js";
import type { Containerizer } from "./containerizer.js";
import { isolatorsFor } from "./isolation-flag.js";
import { PosixContainerizer } from "./posix.js";
import { chooseRuntimeRoot } from "./runtime-root.js";

export type ContainerizerName = "mesos" | "docker";
const KNOWN: readonly ContainerizerName[] = ["docker", "mesos"];

export function parseContainerizersFlag(value: string): ContainerizerName[] {
  const names = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, "Invalid --containerizers: it is empty; use 'mesos', 'docker' or 'docker,mesos'");
  const out: ContainerizerName[] = [];
  for (const name of names) {
    if (!KNOWN.includes(name as ContainerizerName)) {
      throw new DcosError(Code.INVALID_ARGUMENT, `Invalid --containerizers: unknown containerizer '${name}'; known: ${KNOWN.join(", ")}`);
    }
    if (out.includes(name as ContainerizerName)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid --containerizers: '${name}' is named twice`);
    out.push(name as ContainerizerName);
  }
  return out;
}

export interface ContainerizerFlags {
  containerizers: string;
  isolation: string;
  workDir: string;
  dockerSocket?: string;
  /** The agent's cpus: the weight of all its cgroups together (CgroupHostOptions.rootCpus). */
  cpus?: number;
  logger?: Logger;
  /** `slave/launcher_crashes` is counted here. */
  metrics?: Metrics;
  /** The warm launcher's wait for an agent that went away (default 15 min). */
  recoveryTimeoutMs?: number;
  /** `--runtime-dir`: where the containers' runtime directories go (default: tmpfs when there is one, runtime-root.ts). */
  runtimeDir?: string;
}

/** The agent's containerizer for its flags; with docker, the engine must answer (UNAVAILABLE otherwise). */
export async function containerizerFor(flags: ContainerizerFlags): Promise<Containerizer> {
  const members: Containerizer[] = [];
  for (const name of parseContainerizersFlag(flags.containerizers)) {
    if (name === "docker") {
      // Loaded only when asked for: dockerode and its dependencies are a large share of start time.
      const { DockerContainerizer } = await import("./docker.js");
      const docker = new DockerContainerizer({ owner: flags.workDir, socketPath: flags.dockerSocket, logger: flags.logger });
      await docker.ping();
      members.push(docker);
    } else {
      const isolators = await isolatorsFor(flags.isolation, { logger: flags.logger, ...(flags.cpus === undefined ? {} : { rootCpus: flags.cpus }) });
      const root = chooseRuntimeRoot(flags.workDir, { runtimeDir: flags.runtimeDir, warn: (msg, fields) => flags.logger?.warn(fields ?? {}, msg) });
      flags.logger?.info({ runtimeRoot: root.path, target: root.target, tmpfs: root.tmpfs }, `Containers' runtime directories in ${root.target}: ${root.why}`);
      members.push(new PosixContainerizer({
        runtimeRoot: root.path,
        isolators,
        logger: flags.logger,
        metrics: flags.metrics,
        ...(flags.recoveryTimeoutMs === undefined ? {} : { recoveryTimeoutMs: flags.recoveryTimeoutMs }),
      }));
    }
  }
  return members.length === 1 ? members[0]! : new CompositeContainerizer(members);
}
