/**
 * cgroups v2: one unified hierarchy. A container gets `<mount>/<root>/<id>`; the root
 * enables the controllers the host offers (cpu, memory, pids) for its children, which hold
 * the processes (v2 allows processes only in leaves). Limits: cpu.weight, cpu.max,
 * memory.max (no swap), pids.max. Kill: cgroup.kill (Linux 5.14+), else freeze, SIGKILL
 * each, thaw. OOM kills are counted in memory.events.
 */
import { join } from "node:path";
import { Code, DcosError } from "../runtime/error.js";
import type { CgroupDriver, CgroupLimits, CgroupStats, OomReport } from "./cgroup-driver.js";
import { makeCgroup, pollUntil, readControl, readKeyed, readNumber, readPids, removeCgroup, writeControl } from "./cgroup-files.js";
import { v2Controllers } from "./cgroup-mounts.js";
import { signalEach } from "./process-session.js";

const WANTED = ["cpu", "memory", "pids"];

/** v1 shares (2..262144) to v2 weight (1..10000), the conversion runc and Kubernetes use. */
export function sharesToWeight(shares: number): number {
  const s = Math.min(262_144, Math.max(2, Math.round(shares)));
  return 1 + Math.floor(((s - 2) * 9999) / 262_142);
}

export class CgroupV2Driver implements CgroupDriver {
  readonly version = 2;
  private enabled?: Promise<Set<string>>;

  /** `rootShares`: the root cgroup's CPU share as v1 shares (written as cpu.weight); the kernel's default when undefined. */
  constructor(private readonly mount: string, private readonly root: string, private readonly rootShares?: number) {}

  describe(name: string): string {
    return `cgroup v2 ${join(this.mount, this.root, name)}`;
  }

  private dir(name: string): string {
    return join(this.mount, this.root, name);
  }

  /** Creates the root and enables, down to it, the wanted controllers that the host offers. */
  private controllers(): Promise<Set<string>> {
    this.enabled ??= (async () => {
      const available = (await v2Controllers(this.mount)).filter((c) => WANTED.includes(c));
      const rootDir = join(this.mount, this.root);
      await makeCgroup(rootDir);
      if (available.length > 0) {
        const change = available.map((c) => `+${c}`).join(" ");
        await writeControl(this.mount, "cgroup.subtree_control", change);
        await writeControl(rootDir, "cgroup.subtree_control", change);
      }
      if (this.rootShares !== undefined && available.includes("cpu")) await writeControl(rootDir, "cpu.weight", sharesToWeight(this.rootShares));
      return new Set(available);
    })();
    this.enabled.catch(() => (this.enabled = undefined));
    return this.enabled;
  }

  private async need(controller: string, what: string): Promise<void> {
    if (!(await this.controllers()).has(controller)) {
      throw new DcosError(Code.FAILED_PRECONDITION, `Cannot apply ${what}: the '${controller}' controller is not available in the cgroup v2 hierarchy at ${this.mount}`);
    }
  }

  async create(name: string, limits: CgroupLimits): Promise<void> {
    await this.controllers();
    const dir = this.dir(name);
    await makeCgroup(dir);
    if (limits.cpuShares !== undefined) {
      await this.need("cpu", "a CPU weight");
      await writeControl(dir, "cpu.weight", sharesToWeight(limits.cpuShares));
    }
    if (limits.cpuQuotaUs !== undefined) {
      await this.need("cpu", "a CPU quota");
      await writeControl(dir, "cpu.max", `${limits.cpuQuotaUs} ${limits.cpuPeriodUs ?? 100_000}`);
    }
    if (limits.memoryBytes !== undefined) {
      await this.need("memory", "a memory limit");
      await writeControl(dir, "memory.max", limits.memoryBytes);
      if ((await readControl(dir, "memory.swap.max")) !== undefined) await writeControl(dir, "memory.swap.max", 0);
    }
    if (limits.pidsMax !== undefined) {
      await this.need("pids", "a pids limit");
      await writeControl(dir, "pids.max", limits.pidsMax);
    }
  }

  async exists(name: string): Promise<boolean> {
    return (await readControl(this.dir(name), "cgroup.procs")) !== undefined;
  }

  procsFiles(name: string): string[] {
    return [join(this.dir(name), "cgroup.procs")];
  }

  async place(name: string, pid: number): Promise<void> {
    await writeControl(this.dir(name), "cgroup.procs", pid);
  }

  pids(name: string): Promise<number[]> {
    return readPids(this.dir(name));
  }

  async killAll(name: string): Promise<void> {
    const dir = this.dir(name);
    if ((await readControl(dir, "cgroup.kill")) !== undefined) {
      await writeControl(dir, "cgroup.kill", 1);
      return;
    }
    await writeControl(dir, "cgroup.freeze", 1);
    await pollUntil(async () => (await readKeyed(dir, "cgroup.events")).get("frozen") === 1, 1_000);
    signalEach(await this.pids(name), "SIGKILL");
    await writeControl(dir, "cgroup.freeze", 0);
  }

  async stats(name: string): Promise<CgroupStats> {
    const dir = this.dir(name);
    const cpu = await readKeyed(dir, "cpu.stat");
    const mem = await readKeyed(dir, "memory.stat");
    const limit = await readNumber(dir, "memory.max");
    const stats: CgroupStats = {
      cpuUserSeconds: (cpu.get("user_usec") ?? 0) / 1e6,
      cpuSystemSeconds: (cpu.get("system_usec") ?? 0) / 1e6,
      memRssBytes: mem.get("anon") ?? 0,
      processes: (await readPids(dir)).length,
      threads: (await readPids(dir, "cgroup.threads")).length,
    };
    if (limit !== undefined && Number.isFinite(limit)) stats.memLimitBytes = limit;
    const throttled = cpu.get("throttled_usec");
    if (throttled !== undefined) stats.cpuThrottledSeconds = throttled / 1e6;
    return stats;
  }

  async oom(name: string): Promise<OomReport> {
    const dir = this.dir(name);
    const events = await readKeyed(dir, "memory.events");
    const limit = await readNumber(dir, "memory.max");
    const peak = (await readNumber(dir, "memory.peak")) ?? (await readNumber(dir, "memory.current")) ?? 0;
    return { kills: events.get("oom_kill") ?? 0, peakBytes: peak, ...(limit !== undefined && Number.isFinite(limit) ? { limitBytes: limit } : {}) };
  }

  async remove(name: string): Promise<void> {
    await removeCgroup(this.dir(name));
  }
}
