/**
 * The scale harness's cluster, for the scale benchmark and its small-size test: three
 * `dcos-node --role=master` processes on Raft (MasterProcesses), simulated agents in
 * several processes (test/bench/sim-agents-process.ts: many agents per process, each its own
 * pid and agent id, on the real gRPC transport) and frameworks on the real SchedulerDriver
 * in their own processes (test/bench/sim-frameworks-process.ts). Every child prints `stats`
 * lines; this sums the latest of each and collects the latency samples, and reads the
 * leading master's /metrics/snapshot. With `preloadTasks` the agents start already running
 * that many tasks of the frameworks (test/bench/preload-layout.ts): start the frameworks
 * first, then the agents (they need the frameworks' ids).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { getPriority } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MasterProcesses } from "./master-processes.js";
import { preloadArg } from "../bench/preload-layout.js";
import { waitFor } from "./wait.js";

const SIM_AGENTS = fileURLToPath(new URL("../bench/sim-agents-process.js", import.meta.url));
const SIM_FRAMEWORKS = fileURLToPath(new URL("../bench/sim-frameworks-process.js", import.meta.url));

export interface ScaleSettings {
  agents: number;
  agentProcesses: number;
  agentResources: string;
  frameworks: number;
  frameworkProcesses: number;
  /** Long-running tasks per framework. */
  longTasks: number;
  /** Short task launches per second per framework, and how long a short task runs. */
  launchesPerS: number;
  shortMs: number;
  seed: number;
  /** Extra flags for every master (e.g. --nats=…, --allocation-interval=…). */
  masterFlags: string[];
  /** Profile the masters' CPU (node --cpu-prof) into this directory. */
  cpuProfileDir?: string;
  /** Node/V8 flags for every master process (e.g. --max-semi-space-size=16), before the script. */
  masterNodeFlags?: string[];
  /** Long tasks a framework launches on one offer at most (default 1). */
  tasksPerOffer?: number;
  /** Frameworks keep the offers they have no token for and launch on them later, instead of declining them. */
  holdOffers?: boolean;
  /** Extra flags for the framework processes (e.g. --idle-refuse-s=…, --min-revive-ms=…). */
  frameworkFlags?: string[];
  /** Tasks the agents start with (the preload mode: preload-layout.ts); the frameworks then launch no long ones. */
  preloadTasks?: number;
  /** The agents start at this rate in all (agents/s; default all at once). */
  agentStartPerS?: number;
  /**
   * The niceness the simulated agents' processes run at (default 0: as the masters). They
   * stand for other machines (the agents' hosts); at a higher nice the kernel gives the
   * masters the CPU first when both want it, as if the masters had machines of their own.
   */
  harnessNice?: number;
  /**
   * The niceness the frameworks' processes run at (default 0). Kept apart from the agents':
   * at 10 the frameworks, which take every offer of a fill, fell seconds behind the masters
   * (offer -> framework over the fill p50 1.8-3.9 s against 32-40 ms at 0), so the figures
   * measured the starved frameworks rather than the master.
   */
  frameworkNice?: number;
}

export type Stats = Record<string, number>;

/** A child process printing `stats {json}` lines; keeps the latest and the latency samples. */
export class StatsChild {
  latest: Stats | undefined;
  /** A frameworks process's framework ids, in the order of their index, once all subscribed (its `framework-ids` line). */
  frameworkIds: string[] | undefined;
  readonly samples: Record<string, number[]> = {};
  private readonly output: string[] = [];
  private readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  private partial = "";

  constructor(
    readonly name: string,
    script: string,
    args: string[],
    nice?: number,
  ) {
    // At a niceness of its own: started by `nice` (which execs node: the pid is node's), so
    // every thread of it, the ones node starts first included, runs at it; `nice -n` adds to ours.
    const by = nice === undefined ? 0 : nice - getPriority();
    this.child = by !== 0
      ? spawn("nice", ["-n", String(by), process.execPath, script, ...args], { stdio: ["pipe", "pipe", "pipe"] })
      : spawn(process.execPath, [script, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout!.on("data", (b: Buffer) => this.collect(b.toString()));
    this.child.stderr!.on("data", (b: Buffer) => this.keep(b.toString()));
    this.exited = new Promise((r) => this.child.on("exit", (code) => r(code)));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  private keep(text: string): void {
    this.output.push(text);
    if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
  }

  private collect(text: string): void {
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (line.startsWith("framework-ids ")) {
        this.frameworkIds = line.slice("framework-ids ".length).split(",");
        continue;
      }
      if (!line.startsWith("stats ")) {
        this.keep(line + "\n");
        continue;
      }
      const s = JSON.parse(line.slice(6)) as Record<string, number | number[]>;
      const flat: Stats = {};
      for (const [k, v] of Object.entries(s)) {
        if (Array.isArray(v)) { const into = (this.samples[k] ??= []); for (const x of v) into.push(x); }
        else flat[k] = v;
      }
      this.latest = flat;
    }
  }

  command(line: string): void {
    this.child.stdin!.write(line + "\n");
  }

  tail(): string {
    return this.output.join("").slice(-3000);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Sums the latest stats of each child (undefined until every child has printed one). */
export function summed(children: readonly StatsChild[]): Stats | undefined {
  if (children.some((c) => !c.latest)) return undefined;
  const out: Stats = {};
  for (const c of children) for (const [k, v] of Object.entries(c.latest!)) out[k] = k.endsWith("At") ? Math.max(out[k] ?? 0, v) : (out[k] ?? 0) + v;
  return out;
}

/** Splits `total` into `parts` near-equal counts (the first ones one bigger). */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0)).filter((n) => n > 0);
}

export class ScaleCluster {
  readonly agents: StatsChild[] = [];
  readonly frameworks: StatsChild[] = [];

  private constructor(
    readonly masters: MasterProcesses,
    readonly s: ScaleSettings,
    readonly dir: string,
  ) {}

  static async start(dir: string, s: ScaleSettings): Promise<ScaleCluster> {
    // A CPU profile of every master (written when it exits normally), for finding hot spots:
    // node refuses --cpu-prof in NODE_OPTIONS, so a shell that execs node with it.
    const nodeFlags = [...(s.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${s.cpuProfileDir}`] : []), ...(s.masterNodeFlags ?? [])];
    const launcher = nodeFlags.length > 0 ? ["sh", "-c", `node=$1; shift; exec "$node" ${nodeFlags.map((f) => `'${f}'`).join(" ")} "$@"`, "sh"] : [];
    const masters = await MasterProcesses.start(3, dir, ["--log-level=info", ...s.masterFlags], launcher);
    const c = new ScaleCluster(masters, s, dir);
    await waitFor(() => masters.leader() >= 0, "a leading master", 60_000);
    return c;
  }

  /** The preload layout's flag, or nothing. */
  private preloadFlags(): string[] {
    return this.s.preloadTasks ? [`--preload=${preloadArg({ agents: this.s.agents, frameworks: this.s.frameworks, tasks: this.s.preloadTasks })}`] : [];
  }

  /** Every framework's id in the order of its index (the preload mode: once every framework subscribed). */
  frameworkIds(): string[] {
    const ids = this.frameworks.flatMap((f) => f.frameworkIds ?? []);
    if (ids.length !== this.s.frameworks) throw new Error(`${ids.length} of ${this.s.frameworks} framework ids known: start the agents once every framework subscribed`);
    return ids;
  }

  /** Starts the agent processes (returns at once; see `agentStats`). */
  startAgents(statsMs = 500): void {
    let first = 0;
    const preload = this.s.preloadTasks ? [...this.preloadFlags(), `--framework-ids=${this.frameworkIds().join(",")}`] : [];
    if (this.s.agentStartPerS) preload.push(`--start-per-s=${Math.ceil(this.s.agentStartPerS / this.s.agentProcesses)}`);
    for (const [i, n] of split(this.s.agents, this.s.agentProcesses).entries()) {
      this.agents.push(
        new StatsChild(`agents-${i}`, SIM_AGENTS, [`--masters=${this.masters.list}`, `--agents=${n}`, `--first=${first}`, `--resources=${this.s.agentResources}`, `--seed=${this.s.seed}`, `--stats-ms=${statsMs}`, ...preload], this.s.harnessNice),
      );
      first += n;
    }
  }

  startFrameworks(statsMs = 500): void {
    let first = 0;
    for (const [i, n] of split(this.s.frameworks, this.s.frameworkProcesses).entries()) {
      this.frameworks.push(
        new StatsChild(`frameworks-${i}`, SIM_FRAMEWORKS, [
          `--masters=${this.masters.list}`,
          `--frameworks=${n}`,
          `--first=${first}`,
          // Preloaded: the tasks run already; the frameworks launch no long ones.
          `--long-tasks=${this.s.preloadTasks ? 0 : this.s.longTasks}`,
          `--launches-per-s=${this.s.launchesPerS}`,
          `--short-ms=${this.s.shortMs}`,
          `--tasks-per-offer=${this.s.tasksPerOffer ?? 1}`,
          `--hold-offers=${this.s.holdOffers ? 1 : 0}`,
          ...(this.s.frameworkFlags ?? []),
          `--seed=${this.s.seed + 1_000_000}`,
          `--stats-ms=${statsMs}`,
          ...this.preloadFlags(),
        ], this.s.frameworkNice),
      );
      first += n;
    }
  }

  /**
   * Before a failover: the frameworks and agents count from now on (resubscriptions, long
   * tasks heard RUNNING, agents reregistered). Marked again every 2 s until nothing is counted
   * in the second after a mark: answers of a reconciliation still in flight (the preload's
   * adoption, a leader lost before) would count after it.
   */
  async mark(timeoutMs = 30_000): Promise<void> {
    let markedAt = -Infinity;
    await waitFor(
      () => {
        if (performance.now() - markedAt > 2_000) {
          markedAt = performance.now();
          for (const p of [...this.frameworks, ...this.agents]) p.command("mark");
          return false;
        }
        const f = this.frameworkStats();
        return f?.longRunningSinceMark === 0 && f.resubscribed === 0 && this.agentStats()?.backSinceMark === 0 && performance.now() - markedAt > 1_000;
      },
      "the frameworks and agents to take the mark",
      timeoutMs,
    );
  }

  agentStats(): Stats | undefined {
    return summed(this.agents);
  }

  frameworkStats(): Stats | undefined {
    return summed(this.frameworks);
  }

  /** Takes the latency samples `key` every framework process reported since the last take. */
  takeSamples(key: string): number[] {
    const out: number[] = [];
    // A loop, not push(...all): 50,000 agents' offers overflow the stack as arguments.
    for (const f of this.frameworks) for (const v of f.samples[key]?.splice(0) ?? []) out.push(v);
    return out;
  }

  /** The leading master's index (from the logs). */
  leader(): number {
    return this.masters.leader();
  }

  /** The leading master's HTTP address (host:port), from its log. */
  leaderHttp(): string {
    const p = this.masters.processes[this.leader()];
    const line = p?.lines.find((l) => l.includes("Master HTTP on http://"));
    const m = line ? /Master HTTP on http:\/\/([^ )"]+)/.exec(line) : null;
    if (!m) throw new Error("the leading master has not logged its HTTP address yet");
    return m[1]!;
  }

  /** Bytes in the leading master's work directory (its Raft log, snapshots and registry). */
  leaderWorkDirBytes(): number {
    return treeBytes(join(this.dir, `master-${this.leader() + 1}`));
  }

  /** The leading master's process id. */
  leaderPid(): number {
    return this.masters.processes[this.leader()]!.pid;
  }

  async get(path: string): Promise<{ ms: number; bytes: number; body: string }> {
    const started = performance.now();
    const res = await fetch(`http://${this.leaderHttp()}${path}`);
    const body = await res.text();
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${body.slice(0, 300)}`);
    return { ms: performance.now() - started, bytes: body.length, body };
  }

  async metrics(): Promise<Record<string, number>> {
    return JSON.parse((await this.get("/metrics/snapshot")).body) as Record<string, number>;
  }

  /** What the children said last, for a failure message. */
  describe(): string {
    return [...this.agents, ...this.frameworks].map((c) => `${c.name}: ${JSON.stringify(c.latest)}\n${c.tail()}`).join("\n");
  }

  async stop(): Promise<void> {
    if (this.s.cpuProfileDir) {
      // Profiled masters stop first, as they are (a framework's teardown would end their
      // profiles with its own work), given a minute to write a profile of a large heap.
      await this.masters.stop(60_000);
    }
    await Promise.all([...this.frameworks, ...this.agents].map((c) => c.stop()));
    await this.masters.stop();
  }
}

/** A process's CPU time so far (user + system, ms) and RSS (bytes), from /proc. */
export function processUsage(pid: number): { cpuMs: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state is [0], utime [11], stime [12]; clock ticks of 10 ms.
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = /VmRSS:\s+(\d+) kB/.exec(status);
  return { cpuMs: ticks * 10, rssBytes: Number(rss?.[1] ?? 0) * 1024 };
}

/** Bytes of the files under path (0 if it does not exist). */
export function treeBytes(path: string): number {
  let sum = 0;
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) sum += treeBytes(p);
    else if (e.isFile()) sum += statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  }
  return sum;
}
