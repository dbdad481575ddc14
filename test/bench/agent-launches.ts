/**
 * Driving a real agent (test/executor/cluster.ts: a scripted master, a real agent node, its
 * containerizer and executors) with RunTask messages and timing them, for the `containers`
 * suite. The bench shares its process with the agent, so statuses are watched with one
 * cheap incremental scan of what the scripted master received (not a poll per task), and
 * CPU is split between this process (the agent) and its descendants (whatever supervises
 * the tasks, and the tasks) with process-tree.ts.
 */
import { create } from "@bufbuild/protobuf";
import { readFile } from "node:fs/promises";
import { KillTaskSchema, type StatusUpdate } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { runTask, type Cluster } from "../executor/cluster.js";
import type { LaunchTrace } from "../../src/actors/agent/launch-trace.js";
import { cpuBetween, descendants, pssBytes, treeCpu } from "./process-tree.js";

const TIMEOUT_MS = 120_000;

export interface Run {
  perSecond: number;
  latencies: number[];
  /** CPU per job of this process (with the agent in it), ms. */
  selfCpuMsPerJob: number;
  /** CPU per job of this process's descendants, live or reaped (supervisors and tasks), ms. */
  descendantsCpuMsPerJob: number;
  /** With a LaunchTrace: per stage of the launch, the ms from the bench's RunTask to that stage, one per task. */
  stages?: Map<string, number[]>;
}

/** Runs `count` jobs with at most `window` at once; each resolves with its start latency. */
export async function windowed(count: number, window: number, job: (i: number) => Promise<number>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = await treeCpu();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) latencies.push(await job(next++));
  };
  await Promise.all(Array.from({ length: window }, worker));
  const perSecond = count / ((performance.now() - t0) / 1000);
  const cpu = cpuBetween(cpu0, await treeCpu());
  return { perSecond, latencies, selfCpuMsPerJob: cpu.selfMs / count, descendantsCpuMsPerJob: cpu.descendantsMs / count };
}

/** Resolves waiters for "task reached state" from the master's received messages, scanned once each. */
export class StatusWatch {
  private scanned = 0;
  private readonly seen = new Map<string, Set<TaskState>>();
  private readonly waiters = new Map<string, { resolve: () => void; reject: (e: Error) => void; deadline: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly cluster: Cluster) {
    this.timer = setInterval(() => this.scan(), 2);
  }

  until(taskId: string, state: TaskState): Promise<void> {
    if (this.seen.get(taskId)?.has(state)) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.set(`${taskId}/${state}`, { resolve, reject, deadline: Date.now() + TIMEOUT_MS }));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private scan(): void {
    const received = this.cluster.master.received;
    for (; this.scanned < received.length; this.scanned++) {
      const r = received[this.scanned]!;
      if (r.type !== "StatusUpdate") continue;
      const s = (r.message as StatusUpdate).status;
      const id = s?.taskId?.value;
      if (!s || !id) continue;
      let states = this.seen.get(id);
      if (!states) this.seen.set(id, (states = new Set()));
      states.add(s.state);
      const key = `${id}/${s.state}`;
      this.waiters.get(key)?.resolve();
      this.waiters.delete(key);
    }
    const now = Date.now();
    for (const [key, w] of this.waiters) {
      if (now < w.deadline) continue;
      this.waiters.delete(key);
      w.reject(new Error(`Timed out after ${TIMEOUT_MS} ms waiting for ${key}; seen: ${[...(this.seen.get(key.split("/")[0]!) ?? [])].map((x) => TaskState[x]).join(", ")}`));
    }
  }
}

/** `count` tasks through the agent, `window` unfinished at a time; each job ends at FINISHED. Stops the cluster. */
export async function throughAgent(cluster: Cluster, name: string, makeTask: (id: string) => TaskInfo, count: number, window: number, trace?: LaunchTrace): Promise<Run> {
  const watch = new StatusWatch(cluster);
  const stages = new Map<string, number[]>();
  const addStage = (stage: string, ms: number): void => {
    const list = stages.get(stage);
    if (list) list.push(ms);
    else stages.set(stage, [ms]);
  };
  try {
    const r = await windowed(count, window, async (i) => {
      const id = `${name}-${i}`;
      const t0 = performance.now();
      runTask(cluster, makeTask(id));
      await watch.until(id, TaskState.RUNNING);
      const latency = performance.now() - t0;
      await watch.until(id, TaskState.FINISHED);
      for (const [stage, at] of trace?.stages(id) ?? []) addStage(stage, at - t0);
      addStage("RUNNING seen by the bench", latency);
      return latency;
    });
    return trace ? { ...r, stages } : r;
  } finally {
    watch.stop();
    await cluster.stop();
  }
}

export interface Hold {
  /** Tasks that reached TASK_RUNNING and were held (fewer than asked when memory ran short). */
  running: number;
  launchSeconds: number;
  /** Growth of this process's RSS (the agent's) from before the first launch, per running task. */
  agentRssBytesPerTask: number;
  /** PSS of the descendants that are not the tasks' own command (`comm`), per running task. */
  supervisorPssBytesPerTask: number;
  /** PSS of the tasks' own processes, per running task (the floor: what the command itself costs). */
  taskPssBytesPerTask: number;
  /** KillTask to the last TASK_KILLED, for all of them. */
  killSeconds: number;
  /** Why fewer than asked were launched, if so. */
  stoppedBecause?: string;
}

/** Available memory from /proc/meminfo, in bytes. */
async function memAvailable(): Promise<number> {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(await readFile("/proc/meminfo", "utf8"));
  return m ? Number(m[1]) * 1024 : Number.POSITIVE_INFINITY;
}

/**
 * Launches `count` long `sleep` tasks (`comm` is the command's process name), `window` at
 * a time, keeps them running while memory is measured, then kills them all. Launching stops
 * early (and says why) when the host has less than `minFreeBytes` available, so a
 * supervisor that costs a lot per task cannot push the shared machine into swap or the
 * OOM killer. Stops the cluster.
 */
export async function holdTasks(cluster: Cluster, makeTask: (id: string) => TaskInfo, comm: string, count: number, window: number, minFreeBytes: number): Promise<Hold> {
  const watch = new StatusWatch(cluster);
  const launched: string[] = [];
  let stoppedBecause: string | undefined;
  try {
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count && !stoppedBecause) {
        const id = `hold-${next++}`;
        const free = await memAvailable();
        if (free < minFreeBytes) {
          stoppedBecause ??= `host MemAvailable ${Math.round(free / 2 ** 20)} MiB < ${Math.round(minFreeBytes / 2 ** 20)} MiB after ${launched.length} launches`;
          break;
        }
        runTask(cluster, makeTask(id));
        await watch.until(id, TaskState.RUNNING);
        launched.push(id);
      }
    };
    await Promise.all(Array.from({ length: window }, worker));
    const launchSeconds = (performance.now() - t0) / 1000;
    const agentRss = process.memoryUsage().rss - rss0;
    let supervisor = 0;
    let tasks = 0;
    for (const p of await descendants()) {
      const pss = await pssBytes(p.pid);
      if (p.comm === comm) tasks += pss;
      else supervisor += pss;
    }
    const k0 = performance.now();
    for (const id of launched) cluster.master.tell(cluster.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: id } }));
    await Promise.all(launched.map((id) => watch.until(id, TaskState.KILLED)));
    const n = Math.max(1, launched.length);
    return {
      running: launched.length,
      launchSeconds,
      agentRssBytesPerTask: agentRss / n,
      supervisorPssBytesPerTask: supervisor / n,
      taskPssBytesPerTask: tasks / n,
      killSeconds: (performance.now() - k0) / 1000,
      ...(stoppedBecause ? { stoppedBecause } : {}),
    };
  } finally {
    watch.stop();
    await cluster.stop();
  }
}
