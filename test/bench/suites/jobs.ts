/**
 * The jobs framework at scale: `--masters` real master processes (one Raft group), `--agents`
 * simulated agents in their own process (tasks finish after `--task-ms`), and the jobs
 * framework (JobsServer: lease, fenced ledger in the masters' replicated log, scheduler
 * driver over gRPC) in this process. `--jobs` jobs are posted through the Chronos API, all
 * first due within the same minute; then:
 * - lateness: due instant → launch written (the ledger's attempt `launchedAt`), p50/p99/max,
 *   and due instant → task RUNNING;
 * - runs/s: runs completed over the span from the first due instant to the last finish;
 * - memory per job in the leader (heap after GC, before and after the runs);
 * - resume: a standby takes over once the leader releases the lease, until it has replayed
 *   the ledger and its engine plans (baseline: the same handover with an empty ledger).
 *
 *   npm run bench -- jobs [--jobs=10000] [--agents=100] [--masters=3] [--task-ms=1000] [--lead=60]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { parseJobSpec } from "../../../src/frameworks/jobs/job-spec.js";
import { JobsServer } from "../../../src/frameworks/jobs/jobs-server.js";
import { MasterProcesses } from "../../support/master-processes.js";
import { waitFor } from "../../support/wait.js";
import { percentile, type Reporter } from "../report.js";
import { simAgents } from "./failover.js";

const arg = (args: string[], name: string, dflt: number) => Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? dflt);

setFlagsFromString("--expose_gc");
const gc = runInNewContext("gc") as () => void;
function heap(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

async function leaderOf(servers: JobsServer[], timeoutMs: number): Promise<JobsServer> {
  return waitFor(() => servers.find((s) => s.leading), "a jobs leader resumed", timeoutMs, 5);
}

/** Standby takeover: the leader releases the lease, the other replays the ledger and plans. */
async function handover(from: JobsServer, to: JobsServer): Promise<number> {
  const t0 = performance.now();
  await from.runner!.abdicate();
  await waitFor(() => to.leading, "the standby to resume", 120_000, 5);
  return performance.now() - t0;
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const jobs = arg(args, "jobs", 10_000);
  const agentCount = arg(args, "agents", 100);
  const masterCount = arg(args, "masters", 3);
  const taskMs = arg(args, "task-ms", 1_000);
  const leadS = arg(args, "lead", 60);
  const dir = mkdtempSync(join(tmpdir(), "jobs-bench-"));
  const masters = await MasterProcesses.start(masterCount, dir, ["--log-level=info"]);
  const agents = simAgents(masters.list, agentCount, ["--resources=cpus:64;mem:65536;disk:1000000", `--task-ms=${taskMs}`]);
  const servers: JobsServer[] = [];
  try {
    await waitFor(() => agents.registered(), "every simulated agent registered", 120_000);
    for (let i = 0; i < 2; i++) servers.push(await JobsServer.start({ masters: masters.addresses, httpPort: 0 }));
    let leader = await leaderOf(servers, 60_000);
    let standby = servers.find((s) => s !== leader)!;
    const resumeEmpty = await handover(leader, standby);
    [leader, standby] = [standby, leader];

    const before = heap();
    const first = Math.ceil((Date.now() + leadS * 1000) / 60_000) * 60_000;
    const posted0 = performance.now();
    let next = 0;
    let retried = 0;
    const viaHttp = Math.min(jobs, arg(args, "http-jobs", 500));
    const jobJson = (i: number) => ({ name: `bench-${i}`, command: "true", schedule: `R/${new Date(first + (i % 60) * 1000).toISOString()}/P1D`, epsilon: "PT5M", cpus: 0.01, mem: 1, disk: 0 });
    const post = async () => {
      for (let i = next++; i < viaHttp; i = next++) {
        const job = jobJson(i);
        // A client of Chronos retries a 503 (a leader change while posting); a post is idempotent.
        for (let attempt = 0; ; attempt++) {
          const r = await fetch(`http://${servers[attempt % 2]!.address}/v1/scheduler/iso8601`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(job) });
          if (r.status === 204) break;
          if ((r.status !== 503 && r.status !== 504) || attempt > 300) throw new Error(`POST job ${i}: ${r.status} ${await r.text()}`);
          retried++;
          await new Promise((res) => setTimeout(res, 200));
        }
      }
    };
    await Promise.all(Array.from({ length: 64 }, post));
    const postSeconds = (performance.now() - posted0) / 1000;
    report.figure("jobs_post_rate", viaHttp / postSeconds, "jobs/s", "higher", { jobs: viaHttp, concurrency: 64, retried_503_504: retried });
    // The rest straight into the leader's ledger, 500 job records per write (what is measured below is scheduling, not the API).
    for (let i = viaHttp; i < jobs; i += 500) {
      for (;;) {
        leader = await leaderOf(servers, 120_000);
        const now = Date.now();
        const records = Array.from({ length: Math.min(500, jobs - i) }, (_, k) => ({ type: "job-put" as const, at: now, spec: parseJobSpec(jobJson(i + k), "iso8601", now) }));
        const why = await leader.engine!.write(records).then(
          (w) => w,
          () => "retry",
        );
        if (why === undefined) break;
        if (why !== "retry") throw new Error(`job-put refused: ${why}`);
      }
    }
    leader = await leaderOf(servers, 120_000);
    standby = servers.find((s) => s !== leader)!;
    if (Date.now() > first) process.stderr.write(`warning: posting ended past the first due instant (raise --lead)\n`);
    const withJobs = heap();
    report.figure("memory_per_job", (withJobs - before) / jobs, "bytes", "lower", { jobs });

    const engine = () => servers.find((s) => s.leading)?.engine;
    const done = () => {
      let n = 0;
      for (const j of engine()?.ledger.jobs.values() ?? []) n += j.successCount;
      return n;
    };
    await waitFor(() => servers.some((s) => s.leading) && done() >= jobs, `${jobs} runs succeeded`, 30 * 60_000 + leadS * 1000, 1_000).catch((err: Error) => {
      throw new Error(`${err.message} (${done()} did)`);
    });
    const late: number[] = [];
    const queued: number[] = [];
    const running: number[] = [];
    let lastFinish = 0;
    const final = engine()!;
    for (const j of final.ledger.jobs.values()) {
      const r = j.history[0]!;
      const a = r.attempts[0]!;
      late.push(a.launchedAt - r.instant);
      queued.push(r.queuedAt - r.instant);
      if (a.startedAt !== undefined) running.push(a.startedAt - r.instant);
      lastFinish = Math.max(lastFinish, r.finishedAt ?? 0);
    }
    report.figure("lateness_launch_p50", percentile(late, 50), "ms", "lower", { jobs, agents: agentCount, masters: masterCount });
    report.figure("lateness_launch_p99", percentile(late, 99), "ms", "lower", { goal: 1000 });
    report.figure("lateness_launch_max", Math.max(...late), "ms", "lower");
    report.figure("lateness_queued_p50", percentile(queued, 50), "ms", "lower", { what: "due instant -> run-queued written" });
    report.figure("lateness_queued_p99", percentile(queued, 99), "ms", "lower");
    report.figure("lateness_running_p50", percentile(running, 50), "ms", "lower");
    report.figure("lateness_running_p99", percentile(running, 99), "ms", "lower");
    report.figure("runs_per_s", jobs / ((lastFinish - first) / 1000), "runs/s", "higher", { span_s: (lastFinish - first) / 1000, task_ms: taskMs });
    report.figure("memory_per_job_with_run", (heap() - before) / jobs, "bytes", "lower");
    report.figure("ledger_records", final.ledger.applied, "records", "lower");

    leader = await leaderOf(servers, 60_000);
    standby = servers.find((s) => s !== leader)!;
    const resume = await handover(leader, standby);
    report.compare("resume_ms", resume, "resume_empty_ms", resumeEmpty, "ms", "lower");
    report.figure("load_average_1m", loadavg()[0]!, "load", "lower");
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    await agents.stop();
    await masters.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
