import { isScheduled, jobSpecJson } from "./job-spec.js";
import { nextInstant, type JobState, type JobsLedger, type Run } from "./ledger.js";
import { percentile, mean } from "./stats.js";

const iso = (t: number | undefined) => (t === undefined ? "" : new Date(t).toISOString());

/** "success" | "failure" | "fresh" (never finished), as Chronos's summary says. */
export function lastOutcome(job: JobState): "success" | "failure" | "fresh" {
  if (job.lastSuccess === undefined && job.lastError === undefined) return "fresh";
  return (job.lastSuccess ?? 0) >= (job.lastError ?? 0) ? "success" : "failure";
}

/** "running" when a task is out, "queued" when a run waits for an offer, else "idle". */
export function jobRunState(job: JobState): "idle" | "queued" | "running" {
  let queued = false;
  for (const r of job.active.values()) {
    if (r.state === "queued") queued = true;
    else return "running";
  }
  return queued ? "queued" : "idle";
}

/** The next scheduled instant (undefined for dependent, disabled or finished schedules). */
export function nextRun(job: JobState): number | undefined {
  if (!isScheduled(job.spec) || job.spec.disabled) return undefined;
  return nextInstant(job, job.cursor);
}

/** A job as GET /v1/scheduler/jobs shows it: its definition and Chronos's statistics fields. */
export function jobJson(job: JobState): Record<string, unknown> {
  return {
    ...jobSpecJson(job.spec),
    successCount: job.successCount,
    errorCount: job.errorCount,
    lastSuccess: iso(job.lastSuccess),
    lastError: iso(job.lastError),
    errorsSinceLastSuccess: job.errorsSinceLastSuccess,
  };
}

export function summaryJson(job: JobState): Record<string, unknown> {
  const last = job.history[0];
  return {
    name: job.spec.name,
    status: lastOutcome(job),
    state: jobRunState(job),
    schedule: job.spec.cron !== undefined ? `cron:${job.spec.cron}` : (job.spec.schedule ?? ""),
    scheduleTimeZone: job.spec.scheduleTimeZone ?? "",
    parents: job.spec.parents,
    disabled: job.spec.disabled,
    nextRun: iso(nextRun(job)),
    lastRun: last ? { instant: iso(last.instant), state: last.state, finishedAt: iso(last.finishedAt), reason: last.reason ?? "" } : null,
    successCount: job.successCount,
    errorCount: job.errorCount,
    missedCount: job.missedCount,
    lastMissed: job.lastMissed ? { at: iso(job.lastMissed.at), reason: job.lastMissed.reason, count: job.lastMissed.count } : null,
  };
}

export function runJson(run: Run, waiting?: string): Record<string, unknown> {
  return {
    job: run.job,
    instant: iso(run.instant),
    trigger: run.trigger,
    state: run.state,
    queuedAt: iso(run.queuedAt),
    finishedAt: iso(run.finishedAt),
    reason: run.reason ?? waiting ?? "",
    attempts: run.attempts.map((a) => ({
      taskId: a.taskId,
      agentId: a.agentId,
      launchedAt: iso(a.launchedAt),
      startedAt: iso(a.startedAt),
      endedAt: iso(a.endedAt),
      end: a.end ?? "",
      exitCode: a.exitCode ?? null,
      message: a.message ?? "",
      ...(a.elementsProcessed !== undefined ? { numElementsProcessed: a.elementsProcessed } : {}),
    })),
  };
}

/** GET /v1/scheduler/job/stat/{name}: run-time percentiles (ms) and the last runs' tasks. */
export function statJson(job: JobState): Record<string, unknown> {
  const d = job.durations.toArray();
  return {
    histogram: {
      "75thPercentile": percentile(d, 75) ?? 0,
      "95thPercentile": percentile(d, 95) ?? 0,
      "98thPercentile": percentile(d, 98) ?? 0,
      "99thPercentile": percentile(d, 99) ?? 0,
      median: percentile(d, 50) ?? 0,
      mean: mean(d) ?? 0,
      count: d.length,
    },
    successCount: job.successCount,
    errorCount: job.errorCount,
    errorsSinceLastSuccess: job.errorsSinceLastSuccess,
    lastSuccess: iso(job.lastSuccess),
    lastError: iso(job.lastError),
    taskStatHistory: job.history.flatMap((r) =>
      r.attempts.map((a) => ({
        taskId: a.taskId,
        jobName: r.job,
        slaveId: a.agentId,
        taskState: a.end ? `TASK_${a.end.toUpperCase()}` : "",
        exitCode: a.exitCode ?? null,
        elapsedTime: a.endedAt !== undefined ? a.endedAt - (a.startedAt ?? a.launchedAt) : null,
        startedAt: iso(a.startedAt ?? a.launchedAt),
        endedAt: iso(a.endedAt),
        ...(a.elementsProcessed !== undefined ? { numElementsProcessed: a.elementsProcessed } : {}),
      })),
    ),
  };
}

/** Every job in the ledger, by name. */
export function sortedJobs(ledger: JobsLedger): JobState[] {
  return [...ledger.jobs.values()].sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1));
}
