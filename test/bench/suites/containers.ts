/**
 * `npm run bench -- containers [-- --count=200 --window=20 --modes=posix,cgroups+namespaces,docker]`:
 * an agent (real agent node: posix containerizer, the built-in command executor, gRPC
 * ExecutorService) is sent `count` RunTask messages for `true` command tasks, at most
 * `window` unfinished at a time, once per mode: posix; cgroups,namespaces (root); docker
 * (a running dockerd and the test image `dcos-test/busybox`, which the docker tests build).
 * Figures: tasks launched per second (first RunTask → last TASK_RUNNING), RunTask →
 * TASK_RUNNING p50/p99, and CPU ms per task (this process and everything it reaped: agent,
 * launchers, executors, tasks; steadier than rates on a shared machine; dockerd's is not in it). Baseline in the same run: child_process.spawn of the same command
 * through /bin/sh -c with the same window (spawn → 'spawn' event), and the ratio.
 * (The `containerizer` suite measures the containerizer alone.)
 *
 * The bench shares its process with the agent, so it watches statuses with one cheap
 * incremental scan of what the scripted master received (not a poll per task).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import Docker from "dockerode";
import { ContainerInfoSchema, ContainerInfo_DockerInfo_Network, ContainerInfo_Type, TaskState, type TaskInfo } from "../../../src/gen/dcos/v1/tasks_pb.js";
import type { StatusUpdate } from "../../../src/gen/dcos/v1/internal_pb.js";
import { removeCgroup } from "../../../src/isolation/cgroup-files.js";
import { readCgroupMounts } from "../../../src/isolation/cgroup-mounts.js";
import { CompositeContainerizer } from "../../../src/isolation/composite-containerizer.js";
import { DockerContainerizer } from "../../../src/isolation/docker.js";
import { isolatorsFor } from "../../../src/isolation/isolation-flag.js";
import { PosixContainerizer } from "../../../src/isolation/posix.js";
import { runTask, startCluster, task, type Cluster } from "../../executor/cluster.js";
import { percentile, type Reporter } from "../report.js";

const DOCKER_IMAGE = "dcos-test/busybox:latest";
const TIMEOUT_MS = 120_000;
const CGROUP_ROOT = `dcos-bench-containers-${process.pid}`;

function arg(args: string[], name: string): string | undefined {
  return args.find((x) => x.startsWith(`--${name}=`))?.split("=")[1];
}

function numberArg(args: string[], name: string, fallback: number): number {
  const v = Number(arg(args, name));
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

interface Run {
  perSecond: number;
  latencies: number[];
  /** CPU time of this process and its reaped descendants (agent, launchers, executors, tasks) per job. */
  cpuMsPerJob: number;
}

/** utime+stime+cutime+cstime of this process in ms (/proc/self/stat; clock ticks are 10 ms). */
function cpuMs(): number {
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0) * 10;
}

/** Runs `count` jobs with at most `window` at once; each resolves with its start latency. */
async function windowed(count: number, window: number, job: (i: number) => Promise<number>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const cpu0 = cpuMs();
  const worker = async (): Promise<void> => {
    while (next < count) latencies.push(await job(next++));
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { perSecond: count / ((performance.now() - t0) / 1000), latencies, cpuMsPerJob: (cpuMs() - cpu0) / count };
}

/** Resolves waiters for "task reached state" from the master's received messages, scanned once each. */
class StatusWatch {
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

async function throughAgent(cluster: Cluster, name: string, makeTask: (id: string) => TaskInfo, count: number, window: number): Promise<Run> {
  const watch = new StatusWatch(cluster);
  try {
    return await windowed(count, window, async (i) => {
      const id = `${name}-${i}`;
      const t0 = performance.now();
      runTask(cluster, makeTask(id));
      await watch.until(id, TaskState.RUNNING);
      const latency = performance.now() - t0;
      await watch.until(id, TaskState.FINISHED);
      return latency;
    });
  } finally {
    watch.stop();
    await cluster.stop();
  }
}

async function isolationMode(mode: string, count: number, window: number): Promise<Run> {
  // The agent of startCluster has cpus:2; its containers together weigh as 2 CPUs (rootCpus).
  const isolators = await isolatorsFor(mode, { root: CGROUP_ROOT, rootCpus: 2 });
  const cluster = await startCluster((workDir) => new PosixContainerizer({ runtimeRoot: `${workDir}/containers`, isolators }));
  return throughAgent(cluster, mode.replace(",", "_"), (id) => task(id, "true"), count, window);
}

async function dockerMode(count: number, window: number): Promise<Run | undefined> {
  const present = await new Docker().getImage(DOCKER_IMAGE).inspect().then(() => true, (e: unknown) => (e as Error).message);
  if (present !== true) {
    process.stderr.write(`skipping docker: ${DOCKER_IMAGE} is not there (${present}); run the docker tests once (test/isolation/docker.test.ts) to build it\n`);
    return undefined;
  }
  const owner = await mkdtemp(join(tmpdir(), "dcos-bench-docker-"));
  const cluster = await startCluster(
    (workDir) => new CompositeContainerizer([new DockerContainerizer({ owner }), new PosixContainerizer({ runtimeRoot: `${workDir}/containers` })]),
  );
  const dockerTask = (id: string): TaskInfo => {
    const t = task(id, "true");
    t.container = create(ContainerInfoSchema, { type: ContainerInfo_Type.DOCKER, docker: { image: DOCKER_IMAGE, network: ContainerInfo_DockerInfo_Network.HOST } });
    return t;
  };
  return throughAgent(cluster, "docker", dockerTask, count, window);
}

/** The bench's (empty by now) root cgroups, in every hierarchy that has one. */
async function removeCgroupRoots(): Promise<void> {
  const mounts = await readCgroupMounts().catch(() => undefined);
  if (!mounts) return;
  for (const dir of new Set([...mounts.v1.values(), ...(mounts.v2 ? [mounts.v2] : [])])) {
    await removeCgroup(join(dir, CGROUP_ROOT)).catch((e: unknown) => process.stderr.write(`${(e as Error).message}\n`));
  }
}

async function plainSpawn(count: number, window: number): Promise<Run> {
  return windowed(count, window, async () => {
    const t0 = performance.now();
    const child = spawn("/bin/sh", ["-c", "true"], { stdio: "ignore", detached: true });
    await once(child, "spawn");
    const latency = performance.now() - t0;
    await once(child, "exit");
    return latency;
  });
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const count = numberArg(args, "count", 200);
  const window = numberArg(args, "window", 20);
  const modes = (arg(args, "modes") ?? "posix,cgroups+namespaces,docker").split(",").map((m) => m.replace("+", ","));
  const baseline = await plainSpawn(count, window);
  for (const mode of modes) {
    if (mode !== "posix" && process.getuid?.() !== 0) {
      process.stderr.write(`skipping ${mode}: it needs root\n`);
      continue;
    }
    const r = mode === "docker" ? await dockerMode(count, window) : await isolationMode(mode, count, window);
    if (!r) continue;
    const name = mode.replace(",", "_");
    report.compare(`agent_${name}_launches_per_s`, r.perSecond, "spawn_per_s", baseline.perSecond, "launches/s", "higher");
    report.figure(`agent_${name}_run_task_to_running_p50_ms`, percentile(r.latencies, 50), "ms", "lower", { count, window, mode });
    report.figure(`agent_${name}_run_task_to_running_p99_ms`, percentile(r.latencies, 99), "ms", "lower", { count, window, mode });
    report.figure(`agent_${name}_cpu_ms_per_task`, r.cpuMsPerJob, "ms", "lower", { count, window, mode });
  }
  await removeCgroupRoots();
  report.figure("spawn_to_running_p50_ms", percentile(baseline.latencies, 50), "ms", "lower", { count, window });
  report.figure("spawn_to_running_p99_ms", percentile(baseline.latencies, 99), "ms", "lower", { count, window });
  report.figure("spawn_cpu_ms_per_task", baseline.cpuMsPerJob, "ms", "lower", { count, window });
}
