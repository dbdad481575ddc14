/**
 * `npm run bench -- agent`: the agent's own costs.
 * - status updates checkpointed per second by the status update manager (one fsynced
 *   append per update, many tasks at once), against the same number of bare
 *   append+fdatasync calls on one file (the disk's floor);
 * - RunTask → TASK_RUNNING and RunTask → TASK_FINISHED with real processes (posix
 *   containerizer, the command executor as a node process), p50 and p99.
 */
import { create } from "@bufbuild/protobuf";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KillTaskSchema } from "../../../src/gen/dcos/v1/internal_pb.js";
import { TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { StatusUpdateManager } from "../../../src/actors/agent/status-update-manager.js";
import { statusUpdate } from "../../../src/actors/agent/status-update.js";
import { Random } from "../../../src/runtime/random.js";
import { Metrics } from "../../../src/metrics/metrics.js";
import { ActorSystem } from "../../../src/runtime/system.js";
import { runTask, startCluster, statusOf, task } from "../../executor/cluster.js";
import { waitFor } from "../../support/wait.js";
import { median, percentile, type Reporter } from "../report.js";

function arg(args: string[], name: string, dflt: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split("=")[1]) : dflt;
}

async function fsyncFloor(dir: string, n: number): Promise<number> {
  const fd = await open(join(dir, "floor"), "a");
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await fd.write(`{"t":"update","n":${i}}\n`);
    await fd.datasync();
  }
  const s = (performance.now() - t0) / 1000;
  await fd.close();
  return n / s;
}

async function checkpointedUpdates(dir: string, tasks: number, perTask: number): Promise<number> {
  const system = new ActorSystem({});
  const sum = system.spawn(new StatusUpdateManager({ dir, metrics: new Metrics(), forward: () => undefined }));
  const states = [TaskState.STARTING, TaskState.RUNNING, TaskState.FINISHED];
  const uuids = new Random(1);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: tasks }, async (_, i) => {
      for (let k = 0; k < perTask; k++) {
        await sum.update(statusUpdate({ frameworkId: "fw", taskId: `t${i}`, state: states[k % states.length]!, now: Date.now(), uuid: uuids.uuidBytes() }));
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  await system.stop();
  return (tasks * perTask) / s;
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "dcos-bench-agent-"));
  try {
    const tasks = arg(args, "tasks", 200);
    const rounds = arg(args, "rounds", 3);
    const perTask = 3;
    const floors: number[] = [];
    const rates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      floors.push(await fsyncFloor(join(dir), tasks * perTask));
      rates.push(await checkpointedUpdates(join(dir, `sum-${r}`), tasks, perTask));
    }
    report.compare("status_updates_checkpointed_per_s", median(rates), "sequential_fdatasync_per_s", median(floors), "updates/s", "higher");

    const launches = arg(args, "launches", 10);
    const cluster = await startCluster();
    try {
      const toRunning: number[] = [];
      const toFinished: number[] = [];
      for (let i = 0; i < launches; i++) {
        const id = `bench-${i}`;
        const t0 = performance.now();
        runTask(cluster, task(id, "true"));
        await waitFor(() => statusOf(cluster, id, TaskState.RUNNING), `${id} RUNNING`, 30_000, 2);
        toRunning.push(performance.now() - t0);
        await waitFor(() => statusOf(cluster, id, TaskState.FINISHED), `${id} FINISHED`, 30_000, 2);
        toFinished.push(performance.now() - t0);
      }
      report.figure("run_task_to_running_ms_p50", median(toRunning), "ms", "lower", { launches });
      report.figure("run_task_to_running_ms_p99", percentile(toRunning, 99), "ms", "lower", { launches });
      report.figure("run_task_to_finished_ms_p50", median(toFinished), "ms", "lower", { launches });
      // Kill latency of a task that honours SIGTERM.
      const kills: number[] = [];
      for (let i = 0; i < Math.min(5, launches); i++) {
        const id = `kill-${i}`;
        runTask(cluster, task(id, "trap 'exit 0' TERM; while :; do sleep 0.05; done"));
        await waitFor(() => statusOf(cluster, id, TaskState.RUNNING), `${id} RUNNING`, 30_000, 2);
        const t0 = performance.now();
        cluster.master.tell(cluster.node.agent.self, create(KillTaskSchema, { frameworkId: { value: "fw-1" }, taskId: { value: id } }));
        await waitFor(() => statusOf(cluster, id, TaskState.KILLED), `${id} KILLED`, 30_000, 2);
        kills.push(performance.now() - t0);
      }
      report.figure("kill_task_to_killed_ms_p50", median(kills), "ms", "lower", { kills: kills.length });
    } finally {
      await cluster.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
