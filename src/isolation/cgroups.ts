/**
 * The cgroups isolator: each container gets a cgroup (v1 or v2, whichever the host uses)
 * with a CPU share/weight from `cpus`, an optional hard CPU quota, a memory limit from
 * `memMb` and an optional pids limit. The cgroup also tracks every process of the
 * container (so destroy kills ones that escaped with setsid or a double fork), measures
 * its usage, and tells an OOM kill apart from an ordinary exit.
 */
import type { Logger } from "../runtime/log.js";
import { silentLogger } from "../runtime/log.js";
import { Code, DcosError } from "../runtime/error.js";
import type { CgroupDriver, CgroupLimits } from "./cgroup-driver.js";
import { detectCgroupVersion, readCgroupMounts } from "./cgroup-mounts.js";
import { CgroupV1Driver } from "./cgroup-v1.js";
import { CgroupV2Driver } from "./cgroup-v2.js";
import type { ContainerConfig, ContainerId, ContainerResources, ContainerState, ResourceUsage } from "./containerizer.js";
import type { Isolator, Limitation } from "./isolator.js";

/** As in Mesos: 1024 shares per CPU, never below 2; quota never below 1 ms per 100 ms period. */
export const CPU_SHARES_PER_CPU = 1024;
export const MIN_CPU_SHARES = 2;
export const CPU_PERIOD_US = 100_000;
export const MIN_CPU_QUOTA_US = 1_000;
/** A smaller limit would not even fit the launcher; Mesos uses the same floor. */
export const MIN_MEMORY_BYTES = 32 * 1024 * 1024;

const MIB = 1024 * 1024;

export interface CgroupsIsolatorOptions {
  driver: CgroupDriver;
  /** Also cap CPU time at `cpus` (CFS quota), not only share it (Mesos's --cgroups_enable_cfs). */
  cpuQuota?: boolean;
  /** The most processes (threads) a container may have; none by default. */
  pidsLimit?: number;
  logger?: Logger;
}

/** Kernel limits for a container's resources. */
export function limitsFor(resources: ContainerResources | undefined, options: { cpuQuota?: boolean; pidsLimit?: number }): CgroupLimits {
  const limits: CgroupLimits = {};
  if (resources?.cpus !== undefined) {
    limits.cpuShares = cpuSharesFor(resources.cpus);
    if (options.cpuQuota) {
      limits.cpuPeriodUs = CPU_PERIOD_US;
      limits.cpuQuotaUs = Math.max(MIN_CPU_QUOTA_US, Math.round(resources.cpus * CPU_PERIOD_US));
    }
  }
  if (resources?.memMb !== undefined) limits.memoryBytes = Math.max(MIN_MEMORY_BYTES, Math.round(resources.memMb * MIB));
  if (options.pidsLimit !== undefined) limits.pidsMax = options.pidsLimit;
  return limits;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** $1… up to "--" are cgroup.procs files; the rest is the command. */
const JOIN_CGROUPS_SCRIPT = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 126; shift; done; shift; exec "$@"';

export class CgroupsIsolator implements Isolator {
  readonly name = "cgroups";
  private readonly log: Logger;

  constructor(private readonly options: CgroupsIsolatorOptions) {
    this.log = (options.logger ?? silentLogger()).child({ component: "cgroups-isolator", cgroupVersion: options.driver.version });
  }

  get driver(): CgroupDriver {
    return this.options.driver;
  }

  async prepare(config: ContainerConfig): Promise<void> {
    const limits = limitsFor(config.resources, this.options);
    await this.driver.create(config.id, limits);
    this.log.debug({ container: config.id, limits, cgroup: this.driver.describe(config.id) }, "Cgroup prepared");
  }

  isolate(id: ContainerId, pid: number): Promise<void> {
    return this.driver.place(id, pid);
  }

  /** A shell that writes its own pid to the cgroup.procs files, then execs the rest (same pid, so in the cgroups). */
  async enterPrefix(state: ContainerState): Promise<string[]> {
    return ["/bin/sh", "-c", JOIN_CGROUPS_SCRIPT, "dcos-enter-cgroups", ...this.driver.procsFiles(state.id), "--"];
  }

  procsFiles(id: ContainerId): string[] {
    return this.driver.procsFiles(id);
  }

  pids(id: ContainerId): Promise<number[]> {
    return this.driver.pids(id);
  }

  kill(id: ContainerId): Promise<void> {
    return this.driver.killAll(id);
  }

  async usage(id: ContainerId): Promise<Partial<ResourceUsage>> {
    return this.driver.stats(id);
  }

  async limitation(id: ContainerId): Promise<Limitation | undefined> {
    const oom = await this.driver.oom(id);
    if (oom.kills === 0) return undefined;
    const limit = oom.limitBytes === undefined ? "the memory limit" : `the memory limit of ${mib(oom.limitBytes)}`;
    return {
      reason: "memory limit",
      message: `Memory limit exceeded: the container reached ${limit} (peak usage ${mib(oom.peakBytes)}) and the kernel killed ${oom.kills} process${oom.kills === 1 ? "" : "es"}`,
      memoryBytes: oom.peakBytes,
    };
  }

  async recover(state: ContainerState): Promise<void> {
    if (!(await this.driver.exists(state.id))) {
      this.log.warn({ container: state.id, cgroup: this.driver.describe(state.id) }, "The cgroup of a recovered container is gone");
    }
  }

  cleanup(id: ContainerId): Promise<void> {
    return this.driver.remove(id);
  }
}

export interface CgroupHostOptions {
  /** The cgroup under which containers go, in each hierarchy. Default "dcos". */
  root?: string;
  /** Force a version instead of detecting it. */
  version?: 1 | 2;
  /**
   * The CPUs the containers share (the agent's `cpus`): the root cgroup gets the CPU share
   * (v1 cpu.shares, v2 cpu.weight) of that many CPUs, so that all containers together weigh
   * against the host's other processes as much as the CPUs they were given. Unset: the
   * kernel's default, the weight of one process, which on a busy host starves containers.
   */
  rootCpus?: number;
}

/** The share of `cpus` CPUs (as for one container; Mesos's 1024 per CPU). */
export function cpuSharesFor(cpus: number): number {
  return Math.max(MIN_CPU_SHARES, Math.round(cpus * CPU_SHARES_PER_CPU));
}

/** The driver for this host's cgroups (v1 if memory is on a v1 hierarchy, else v2). */
export async function hostCgroupDriver(options: CgroupHostOptions = {}): Promise<CgroupDriver> {
  const mounts = await readCgroupMounts();
  const version = options.version ?? detectCgroupVersion(mounts);
  const root = options.root ?? "dcos";
  const rootShares = options.rootCpus === undefined ? undefined : cpuSharesFor(options.rootCpus);
  if (version === 1) return new CgroupV1Driver(mounts.v1, root, rootShares);
  if (version === 2 && mounts.v2 !== undefined) return new CgroupV2Driver(mounts.v2, root, rootShares);
  throw new DcosError(Code.FAILED_PRECONDITION, `Cannot use cgroups${version ? ` v${version}` : ""}: no such cgroup hierarchy is mounted on this host`);
}
