/**
 * A dcos-node cluster across network namespaces for the system tests: hosts 1…m run the
 * masters (one Raft group when m > 1), hosts m+1…n one agent each (or the first `agents` of them; default ports, each host
 * its own address), and the test process is a partition-aware framework reaching the masters
 * through the bridge. Tasks write
 * their pid to a file so a test can see the very process keep running.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetnsCluster } from "../support/netns.js";
import type { NodeProcess } from "../support/processes.js";
import { waitFor } from "../support/wait.js";
import { TestFramework } from "./framework.js";

export const MASTER_PORT = 5050;
/** The masters' HTTP port inside their namespaces. */
export const MASTER_HTTP_PORT = 5080;
/** Short health checks so a partition is noticed in seconds: 3 missed 1 s pings. */
const MASTER_FLAGS = ["--agent-ping-timeout=1secs", "--max-agent-ping-timeouts=3", "--allocation-interval=200ms", "--log-level=info"];
const LEADS = / leads at \S+ \(term (\d+)\)/;
const AGENT_RESOURCES = "--resources=cpus:2;mem:1024;disk:1024;ports:[31000-31100]";

export interface SystemClusterOptions {
  /** The masters' flags instead of the default short health checks. */
  masterFlags?: readonly string[];
  /** Start the TestFramework (default true). */
  framework?: boolean;
  /** Agents on the hosts after the masters (default: every other host); the hosts after them are left for the test's own processes. */
  agents?: number;
  /** Added to every agent's flags (e.g. `--recovery-timeout=3secs`). */
  agentFlags?: readonly string[];
}

export class SystemCluster {
  /** By host number - 1; undefined once killed. */
  readonly masters: (NodeProcess | undefined)[] = [];
  /** By host number (2…n). */
  readonly agents = new Map<number, NodeProcess>();
  framework!: TestFramework;

  private constructor(
    readonly net: NetnsCluster,
    readonly dir: string,
    readonly masterCount: number,
    private readonly masterFlags: readonly string[],
    private readonly agentFlags: readonly string[] = [],
  ) {}

  /** Brings up `hosts` namespaces (cluster `id`), `masters` masters, the agents and the framework. */
  static async start(id: number, hosts: number, name: string, masters = 1, options: SystemClusterOptions = {}): Promise<SystemCluster> {
    const net = await NetnsCluster.up(id, hosts);
    const c = new SystemCluster(net, await mkdtemp(join(tmpdir(), `dcos-system-${name}-`)), masters, options.masterFlags ?? MASTER_FLAGS, options.agentFlags);
    try {
      for (let host = 1; host <= masters; host++) c.masters.push(c.spawnMaster(host, masters > 1 ? `master-${host}` : "master"));
      for (const m of c.masters) await m!.waitForLine(/(Master listening on)/, "the master to listen", 30_000);
      await Promise.all(Array.from({ length: options.agents ?? hosts - masters }, (_, i) => c.startAgent(i + masters + 1)));
      if (options.framework !== false) {
        c.framework = new TestFramework(c.masterAddress, name);
        await c.framework.start();
      }
      return c;
    } catch (err) {
      const logs = net.logs();
      await c.stop();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }

  /** The first (or only) master. */
  get master(): NodeProcess {
    return this.masters[0]!;
  }

  /** The masters' addresses, comma-separated (`--master=` / `--masters=`). */
  get masterAddress(): string {
    return Array.from({ length: this.masterCount }, (_, i) => `${this.net.ip(i + 1)}:${MASTER_PORT}`).join(",");
  }

  /** The index (host - 1) of the master that last started to lead (highest term in its log); -1 if none. */
  leader(): number {
    const terms = this.masters.map((p) => Math.max(-1, ...(p?.lines ?? []).map((l) => Number(LEADS.exec(l)?.[1] ?? -1))));
    const highest = Math.max(...terms);
    return highest < 0 ? -1 : terms.indexOf(highest);
  }

  private spawnMaster(host: number, name: string): NodeProcess {
    const group = this.masterCount > 1 ? [`--masters=${this.masterAddress}`] : [];
    // Plaintext between the namespaces (these tests are about faults, not transport security).
    const args = ["--role=master", "--insecure", `--ip=${this.net.ip(host)}`, `--port=${MASTER_PORT}`, `--http-port=${MASTER_HTTP_PORT}`, `--hostname=${this.net.ns(host)}`, `--work-dir=${join(this.dir, `master-${host}`)}`, ...group, ...this.masterFlags];
    return this.net.spawn(host, name, args);
  }

  /** Starts the killed master at `index` again on its work dir; resolves once it listens. */
  async restartMaster(index: number): Promise<NodeProcess> {
    if (this.masters[index]) throw new Error(`Master ${index + 1} still runs`);
    const p = this.spawnMaster(index + 1, `master-${index + 1}-restarted`);
    this.masters[index] = p;
    // Generous: a node process starting on a loaded 2-core machine (the chaos test adds CPU load).
    await p.waitForLine(/(Master listening on)/, "the restarted master to listen", 120_000);
    return p;
  }

  /** The HTTP address (host:port) of the master at `index`. */
  masterHttp(index: number): string {
    return `${this.net.ip(index + 1)}:${MASTER_HTTP_PORT}`;
  }

  /** kill -9 of the master at `index` (host index + 1). */
  async killMaster(index: number): Promise<void> {
    const p = this.masters[index]!;
    p.kill("SIGKILL");
    await p.exited;
    this.masters[index] = undefined;
  }

  hostname(host: number): string {
    return this.net.ns(host);
  }

  /** kill -9 of the agent of `host`; its tasks keep running. */
  async killAgent(host: number): Promise<void> {
    const p = this.agents.get(host)!;
    p.kill("SIGKILL");
    await p.exited;
  }

  /** Starts (or restarts, on the same work dir) the agent of `host` and (unless `wait` is false) waits until it has (re)registered. */
  async startAgent(host: number, wait = true): Promise<NodeProcess> {
    const agent = this.net.spawn(host, this.agents.has(host) ? `agent-${host}-restarted` : `agent-${host}`, [
      "--role=agent",
      "--insecure",
      `--ip=${this.net.ip(host)}`,
      `--hostname=${this.hostname(host)}`,
      `--master=${this.masterAddress}`,
      `--work-dir=${join(this.dir, `agent-${host}`)}`,
      AGENT_RESOURCES,
      ...this.agentFlags,
    ]);
    this.agents.set(host, agent);
    if (!wait) return agent;
    await agent.waitForLine(/((Registered|Reregistered) with master)/, `agent ${host} to register`, 30_000);
    return agent;
  }

  /** A shell line that writes the task's pid to a file, then becomes `sleep 600`. */
  longTask(taskId: string): string {
    return `echo $$ > ${this.pidFile(taskId)}; exec sleep 600`;
  }

  /** The pid of a long task, once it has written it. */
  taskPid(taskId: string): Promise<number> {
    return waitFor(async () => Number((await readFile(this.pidFile(taskId), "utf8")).trim()) || undefined, `task ${taskId} to write its pid`, 10_000);
  }

  /** Everything's output, for a failing assertion's message. */
  logs(): string {
    return this.net.logs();
  }

  /** The framework tears down (killing its tasks), then the processes and the hosts go. */
  async stop(): Promise<void> {
    try {
      await this.framework?.stop();
    } finally {
      await this.net.down();
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  private pidFile(taskId: string): string {
    return join(this.dir, `${taskId}.pid`);
  }
}

/** Whether a process with this pid runs and is a sleep (the long task). */
export async function sleeping(pid: number): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return cmdline.startsWith("sleep") && state !== "Z";
  } catch {
    return false;
  }
}
