/**
 * cgroups v1: one hierarchy per controller (or per group of co-mounted ones). A container
 * gets a cgroup `<root>/<id>` in each hierarchy it uses: cpu (shares, CFS quota), cpuacct
 * (CPU time), memory (limit, OOM count), pids (limit) and freezer (to kill without races).
 */
import { join } from "node:path";
import { Code, DcosError } from "../runtime/error.js";
import type { CgroupDriver, CgroupLimits, CgroupStats, OomReport } from "./cgroup-driver.js";
import { makeCgroup, pollUntil, readControl, readKeyed, readNumber, readPids, removeCgroup, writeControl } from "./cgroup-files.js";
import { clockTicksPerSecond } from "./proc.js";
import { signalEach } from "./process-session.js";

const CONTROLLERS = ["cpu", "cpuacct", "memory", "pids", "freezer"] as const;
type Controller = (typeof CONTROLLERS)[number];

/** The kernel's "no limit" for memory.limit_in_bytes is a page-rounded LONG_MAX; anything this large means none. */
const UNLIMITED_BYTES = 2 ** 62;

export class CgroupV1Driver implements CgroupDriver {
  readonly version = 1;
  /** controller → mount point, for the controllers this host has. */
  private readonly mounts: Map<Controller, string>;
  /** The root's CPU share, written once before the first container (see CgroupHostOptions.rootCpus). */
  private rootReady?: Promise<void>;

  /** `rootShares`: the cpu.shares of the root cgroup; the kernel's default when undefined. */
  constructor(mounts: ReadonlyMap<string, string>, private readonly root: string, private readonly rootShares?: number) {
    this.mounts = new Map(CONTROLLERS.filter((c) => mounts.has(c)).map((c) => [c, mounts.get(c)!]));
    if (!this.mounts.has("memory") && !this.mounts.has("cpu") && !this.mounts.has("freezer")) {
      throw new DcosError(Code.FAILED_PRECONDITION, "cgroups v1: none of the cpu, memory and freezer hierarchies is mounted");
    }
  }

  describe(name: string): string {
    return `cgroup v1 ${join(this.root, name)} (in ${[...new Set(this.mounts.values())].join(", ")})`;
  }

  private dir(controller: Controller, name: string): string | undefined {
    const mount = this.mounts.get(controller);
    return mount === undefined ? undefined : join(mount, this.root, name);
  }

  /** One directory per distinct hierarchy (co-mounted controllers share one). */
  private dirs(name: string): string[] {
    return [...new Set([...this.mounts.values()])].map((m) => join(m, this.root, name));
  }

  private need(controller: Controller, name: string, what: string): string {
    const dir = this.dir(controller, name);
    if (!dir) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot apply ${what}: the cgroup v1 '${controller}' hierarchy is not mounted`);
    return dir;
  }

  private prepareRoot(): Promise<void> {
    const cpu = this.mounts.get("cpu");
    if (this.rootShares === undefined || cpu === undefined) return Promise.resolve();
    const dir = join(cpu, this.root);
    const shares = this.rootShares;
    this.rootReady ??= makeCgroup(dir).then(() => writeControl(dir, "cpu.shares", shares));
    this.rootReady.catch(() => (this.rootReady = undefined));
    return this.rootReady;
  }

  async create(name: string, limits: CgroupLimits): Promise<void> {
    await this.prepareRoot();
    // The hierarchies (and then their controls) are independent: written at once, not in turn.
    await Promise.all(this.dirs(name).map((dir) => makeCgroup(dir)));
    const writes: Promise<void>[] = [];
    if (limits.cpuShares !== undefined) writes.push(writeControl(this.need("cpu", name, "a CPU share"), "cpu.shares", limits.cpuShares));
    if (limits.cpuQuotaUs !== undefined) {
      const cpu = this.need("cpu", name, "a CPU quota");
      const quota = limits.cpuQuotaUs;
      writes.push(writeControl(cpu, "cpu.cfs_period_us", limits.cpuPeriodUs ?? 100_000).then(() => writeControl(cpu, "cpu.cfs_quota_us", quota)));
    }
    if (limits.memoryBytes !== undefined) writes.push(writeControl(this.need("memory", name, "a memory limit"), "memory.limit_in_bytes", limits.memoryBytes));
    if (limits.pidsMax !== undefined) writes.push(writeControl(this.need("pids", name, "a pids limit"), "pids.max", limits.pidsMax));
    await Promise.all(writes);
  }

  async exists(name: string): Promise<boolean> {
    const dir = this.dir("freezer", name) ?? this.dirs(name)[0]!;
    return (await readControl(dir, "cgroup.procs")) !== undefined;
  }

  procsFiles(name: string): string[] {
    return this.dirs(name).map((dir) => join(dir, "cgroup.procs"));
  }

  async place(name: string, pid: number): Promise<void> {
    await Promise.all(this.dirs(name).map((dir) => writeControl(dir, "cgroup.procs", pid)));
  }

  async pids(name: string): Promise<number[]> {
    const lists = await Promise.all(this.dirs(name).map((dir) => readPids(dir)));
    return [...new Set(lists.flat())];
  }

  async killAll(name: string): Promise<void> {
    // An empty cgroup stays empty (only its members could fork into it): no freezing needed.
    if ((await this.pids(name)).length === 0) return;
    const freezer = this.dir("freezer", name);
    if (freezer === undefined || (await readControl(freezer, "freezer.state")) === undefined) {
      signalEach(await this.pids(name), "SIGKILL");
      return;
    }
    await writeControl(freezer, "freezer.state", "FROZEN");
    await pollUntil(async () => (await readControl(freezer, "freezer.state"))?.trim() === "FROZEN", 1_000);
    signalEach(await this.pids(name), "SIGKILL");
    await writeControl(freezer, "freezer.state", "THAWED");
  }

  async stats(name: string): Promise<CgroupStats> {
    const hz = clockTicksPerSecond();
    const cpuacct = this.dir("cpuacct", name);
    const memory = this.dir("memory", name);
    const cpu = this.dir("cpu", name);
    const acct = cpuacct ? await readKeyed(cpuacct, "cpuacct.stat") : new Map<string, number>();
    const mem = memory ? await readKeyed(memory, "memory.stat") : new Map<string, number>();
    const limit = memory ? await readNumber(memory, "memory.limit_in_bytes") : undefined;
    const throttledNs = cpu ? (await readKeyed(cpu, "cpu.stat")).get("throttled_time") : undefined;
    const any = memory ?? this.dirs(name)[0]!;
    const stats: CgroupStats = {
      cpuUserSeconds: (acct.get("user") ?? 0) / hz,
      cpuSystemSeconds: (acct.get("system") ?? 0) / hz,
      memRssBytes: mem.get("total_rss") ?? mem.get("rss") ?? 0,
      processes: (await readPids(any)).length,
      threads: (await readPids(any, "tasks")).length,
    };
    if (limit !== undefined && limit < UNLIMITED_BYTES) stats.memLimitBytes = limit;
    if (throttledNs !== undefined) stats.cpuThrottledSeconds = throttledNs / 1e9;
    return stats;
  }

  async oom(name: string): Promise<OomReport> {
    const memory = this.dir("memory", name);
    if (!memory) return { kills: 0, peakBytes: 0 };
    const control = await readKeyed(memory, "memory.oom_control");
    const limit = await readNumber(memory, "memory.limit_in_bytes");
    return {
      kills: control.get("oom_kill") ?? 0,
      peakBytes: (await readNumber(memory, "memory.max_usage_in_bytes")) ?? 0,
      ...(limit !== undefined && limit < UNLIMITED_BYTES ? { limitBytes: limit } : {}),
    };
  }

  async remove(name: string): Promise<void> {
    await Promise.all(this.dirs(name).map((dir) => removeCgroup(dir)));
  }
}
