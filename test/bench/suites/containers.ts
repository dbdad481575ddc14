/**
 * `npm run bench -- containers [-- --count=200 --window=20]`: an agent (real agent node:
 * posix containerizer, the built-in command executor, gRPC ExecutorService) is sent
 * `count` RunTask messages for `true` command tasks, at most `window` unfinished at a
 * time, once per isolation mode (posix; cgroups,namespaces as root). Figures: tasks
 * launched per second (first RunTask → last TASK_RUNNING) and RunTask → TASK_RUNNING
 * p50/p99. Baseline in the same run: child_process.spawn of the same command through
 * /bin/sh -c with the same window (spawn → 'spawn' event), and the ratio.
 * (The `containerizer` suite measures the containerizer alone.) Docker is not measured
 * here yet: it needs a running dockerd.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { isolatorsFor } from "../../../src/isolation/isolation-flag.js";
import { PosixContainerizer } from "../../../src/isolation/posix.js";
import { runTask, startCluster, statusOf, task, type Cluster } from "../../executor/cluster.js";
import { waitFor } from "../../support/wait.js";
import { percentile, type Reporter } from "../report.js";

function numberArg(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  const v = a ? Number(a.split("=")[1]) : NaN;
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

interface Run {
  perSecond: number;
  latencies: number[];
}

/** Runs `count` jobs with at most `window` at once; each resolves with its start latency. */
async function windowed(count: number, window: number, job: (i: number) => Promise<number>): Promise<Run> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < count) latencies.push(await job(next++));
  };
  await Promise.all(Array.from({ length: window }, worker));
  return { perSecond: count / ((performance.now() - t0) / 1000), latencies };
}

async function throughAgent(mode: string, count: number, window: number): Promise<Run> {
  const isolators = await isolatorsFor(mode, { root: `dcos-bench-containers-${process.pid}` });
  const cluster: Cluster = await startCluster((workDir) => new PosixContainerizer({ runtimeRoot: `${workDir}/containers`, isolators }));
  try {
    return await windowed(count, window, async (i) => {
      const id = `${mode.replace(",", "_")}-${i}`;
      const t0 = performance.now();
      runTask(cluster, task(id, "true"));
      await waitFor(() => statusOf(cluster, id, TaskState.RUNNING), `${id} RUNNING`, 60_000, 1);
      const latency = performance.now() - t0;
      await waitFor(() => statusOf(cluster, id, TaskState.FINISHED), `${id} FINISHED`, 60_000, 2);
      return latency;
    });
  } finally {
    await cluster.stop();
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
  const baseline = await plainSpawn(count, window);
  for (const mode of ["posix", "cgroups,namespaces"]) {
    if (mode !== "posix" && process.getuid?.() !== 0) {
      process.stderr.write(`skipping --isolation=${mode}: it needs root\n`);
      continue;
    }
    const r = await throughAgent(mode, count, window);
    const name = mode.replace(",", "_");
    report.compare(`agent_${name}_launches_per_s`, r.perSecond, "spawn_per_s", baseline.perSecond, "launches/s", "higher");
    report.figure(`agent_${name}_run_task_to_running_p50_ms`, percentile(r.latencies, 50), "ms", "lower", { count, window, isolation: mode });
    report.figure(`agent_${name}_run_task_to_running_p99_ms`, percentile(r.latencies, 99), "ms", "lower", { count, window, isolation: mode });
  }
  report.figure("spawn_to_running_p50_ms", percentile(baseline.latencies, 50), "ms", "lower", { count, window });
  report.figure("spawn_to_running_p99_ms", percentile(baseline.latencies, 99), "ms", "lower", { count, window });
}
