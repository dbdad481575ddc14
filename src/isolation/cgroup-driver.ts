/**
 * What the cgroups isolator needs from a cgroup hierarchy, implemented once for v1
 * (cgroup-v1.ts: one hierarchy per controller) and once for v2 (cgroup-v2.ts: the unified
 * hierarchy). Names are relative to the driver's root ("dcos/<container id>").
 */
import type { ResourceUsage } from "./containerizer.js";

/** Limits in kernel terms, computed from a container's resources (cgroups.ts). */
export interface CgroupLimits {
  /** v1 cpu.shares units (1024 per CPU); v2 converts them to cpu.weight. */
  cpuShares?: number;
  /** Hard CPU limit: this many microseconds per period. */
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  memoryBytes?: number;
  pidsMax?: number;
}

export type CgroupStats = Omit<ResourceUsage, "containerId" | "timestamp">;

export interface OomReport {
  /** How many processes the kernel's OOM killer killed in the cgroup. */
  kills: number;
  /** The most memory the cgroup used (bytes), as far as the kernel tells. */
  peakBytes: number;
  limitBytes?: number;
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** Where the container cgroups live, for logs and errors. */
  describe(name: string): string;
  /** Creates the cgroup and applies the limits; FAILED_PRECONDITION if a controller is missing. */
  create(name: string, limits: CgroupLimits): Promise<void>;
  exists(name: string): Promise<boolean>;
  /** The cgroup.procs files a process writes its pid to, to join the cgroup (one per v1 hierarchy). */
  procsFiles(name: string): string[];
  /** Moves a process (and its future children) into the cgroup. */
  place(name: string, pid: number): Promise<void>;
  pids(name: string): Promise<number[]>;
  /** Freeze, SIGKILL every process, thaw (or cgroup.kill): no process can fork away meanwhile. */
  killAll(name: string): Promise<void>;
  stats(name: string): Promise<CgroupStats>;
  oom(name: string): Promise<OomReport>;
  /** Removes the cgroup once it is empty. Idempotent. */
  remove(name: string): Promise<void>;
}
