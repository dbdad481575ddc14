import { checkParents } from "./dependency-graph.js";
import { isScheduled, JobSpecError, type JobSpec } from "./job-spec.js";
import { runKey, type AttemptEnd, type LedgerRecord, type RunTrigger } from "./records.js";
import { durationMs, parseSchedule, type Schedule } from "./schedule.js";
import { Window } from "./stats.js";

export type RunState = "queued" | "launching" | "running" | "awaiting-report" | "succeeded" | "failed" | "expired" | "cancelled";
const FINAL: ReadonlySet<RunState> = new Set(["succeeded", "failed", "expired", "cancelled"]);

export interface Attempt {
  taskId: string;
  agentId: string;
  launchedAt: number;
  startedAt?: number;
  endedAt?: number;
  end?: AttemptEnd;
  exitCode?: number;
  message?: string;
  kill?: { reason: string; retry: boolean };
  /** A data job's elements processed, as its task reported them. */
  elementsProcessed?: number;
}

export interface Run {
  job: string;
  instant: number;
  trigger: RunTrigger;
  queuedAt: number;
  state: RunState;
  attempts: Attempt[];
  arguments?: string[];
  finishedAt?: number;
  reason?: string;
}

export interface JobState {
  spec: JobSpec;
  createdAt: number;
  updatedAt: number;
  /** When the current schedule was defined (an empty ISO start means this instant). */
  scheduleDefinedAt: number;
  /** Scheduled instants up to here were queued or recorded missed. */
  cursor: number;
  /** Parent successes after this instant trigger the next dependent run. */
  depSince: number;
  lastManual: number;
  /** When the job was last enabled: instants before it were due while it was disabled. */
  enabledAt: number;
  successCount: number;
  errorCount: number;
  errorsSinceLastSuccess: number;
  lastSuccess?: number;
  lastError?: number;
  missedCount: number;
  lastMissed?: { at: number; reason: string; count: number };
  /** Recent runs-missed records, newest first (bounded). */
  missed: { at: number; from: number; to: number; count: number; reason: string; trigger: "schedule" | "dependency" }[];
  durations: Window;
  /** Finished runs, newest first (bounded). */
  history: Run[];
  /** Runs not finished, by runKey. */
  active: Map<string, Run>;
}

export const HISTORY_LENGTH = 50;
export const DURATION_WINDOW = 500;

const schedules = new WeakMap<JobState, Schedule>();

/** The job's schedule, parsed once per definition. */
export function scheduleOf(job: JobState): Schedule | undefined {
  if (!isScheduled(job.spec)) return undefined;
  let s = schedules.get(job);
  if (!s) {
    s = parseSchedule(job.spec, job.scheduleDefinedAt);
    schedules.set(job, s);
  }
  return s;
}

const epsilons = new WeakMap<JobSpec, number>();
export function epsilonOf(job: JobState): number {
  let e = epsilons.get(job.spec);
  if (e === undefined) epsilons.set(job.spec, (e = durationMs(job.spec.epsilon, "epsilon")));
  return e;
}

const nextDue = new WeakMap<JobState, { after: number; next: number | undefined }>();
/** The job's first scheduled instant after `after`, remembered for the last `after` asked (the cursor moves rarely). */
export function nextInstant(job: JobState, after: number): number | undefined {
  const c = nextDue.get(job);
  if (c && c.after === after) return c.next;
  const next = scheduleOf(job)?.nextAfter(after);
  nextDue.set(job, { after, next });
  return next;
}

const sameSchedule = (a: JobSpec, b: JobSpec) => a.schedule === b.schedule && a.cron === b.cron && a.scheduleTimeZone === b.scheduleTimeZone;
const sameParents = (a: JobSpec, b: JobSpec) => a.parents.length === b.parents.length && a.parents.every((p, i) => p === b.parents[i]);

/**
 * The jobs' state as a pure reduction of the ledger records in log order. Every
 * instance of the jobs framework applies the same records and gets the same state;
 * `apply` refuses (returns why) a record that does not fit the state, which is how a
 * record written by a deposed leader, or appended twice, is made harmless.
 */
export class JobsLedger {
  readonly jobs = new Map<string, JobState>();
  /** Attempts whose run is not finished, by task id. */
  readonly tasks = new Map<string, { run: Run; attempt: Attempt }>();
  private sortedNames: string[] | undefined;

  /** Job names in order (cached until a job is added or deleted). */
  names(): string[] {
    return (this.sortedNames ??= [...this.jobs.keys()].sort());
  }

  /** Records applied (a snapshot remembers it). */
  applied = 0;
  ignored = 0;

  /** Names of jobs a record was about (applied or ignored) or restored, since the planner last took them. */
  private touched = new Set<string>();
  private touch(name: string | undefined): void {
    if (name !== undefined) this.touched.add(name);
  }

  /** The jobs changed since the last call (the planner plans those again, not every job). */
  takeTouched(): Set<string> {
    const t = this.touched;
    this.touched = new Set();
    return t;
  }

  /** Names of the jobs with runs not finished (queued or out). */
  readonly activeJobs = new Set<string>();

  /** Applies one record; undefined when applied, else why it was ignored. */
  apply(rec: LedgerRecord): string | undefined {
    this.applied++;
    this.touch(jobOf(rec) ?? ("taskId" in rec && rec.taskId !== undefined ? this.tasks.get(rec.taskId)?.run.job : undefined));
    const why = this.step(rec);
    if (why !== undefined) this.ignored++;
    return why;
  }

  private step(rec: LedgerRecord): string | undefined {
    switch (rec.type) {
      case "job-put":
        return this.putJob(rec.spec, rec.at);
      case "job-deleted": {
        const job = this.jobs.get(rec.name);
        if (!job) return `no job ${rec.name}`;
        for (const j of this.jobs.values()) if (j.spec.parents.includes(rec.name)) return `job ${rec.name} is a parent of ${j.spec.name}`;
        for (const run of job.active.values()) for (const a of run.attempts) this.tasks.delete(a.taskId);
        this.jobs.delete(rec.name);
        this.activeJobs.delete(rec.name);
        this.sortedNames = undefined;
        return undefined;
      }
      case "run-queued": {
        const job = this.jobs.get(rec.job);
        if (!job) return `no job ${rec.job}`;
        if (rec.trigger === "schedule") {
          if (rec.instant <= job.cursor) return `instant ${rec.instant} of ${rec.job} was already queued or missed`;
          job.cursor = rec.instant;
        } else if (rec.trigger === "dependency") {
          if (rec.instant <= job.depSince) return `dependent run ${rec.instant} of ${rec.job} was already triggered`;
          job.depSince = rec.instant;
        } else {
          if (rec.instant <= job.lastManual) return `manual run ${rec.instant} of ${rec.job} was already queued`;
          job.lastManual = rec.instant;
        }
        const run: Run = { job: rec.job, instant: rec.instant, trigger: rec.trigger, queuedAt: rec.at, state: "queued", attempts: [] };
        if (rec.arguments) run.arguments = rec.arguments;
        job.active.set(runKey(rec.job, rec.instant), run);
        this.activeJobs.add(rec.job);
        return undefined;
      }
      case "runs-missed": {
        const job = this.jobs.get(rec.job);
        if (!job) return `no job ${rec.job}`;
        if (rec.trigger === "schedule") {
          if (rec.from <= job.cursor) return `instant ${rec.from} of ${rec.job} was already queued or missed`;
          job.cursor = rec.to;
        } else {
          if (rec.from <= job.depSince) return `dependent instant ${rec.from} of ${rec.job} was already handled`;
          job.depSince = rec.to;
        }
        job.missedCount += rec.count;
        job.lastMissed = { at: rec.at, reason: rec.reason, count: rec.count };
        job.missed = [{ at: rec.at, from: rec.from, to: rec.to, count: rec.count, reason: rec.reason, trigger: rec.trigger }, ...job.missed.slice(0, HISTORY_LENGTH - 1)];
        return undefined;
      }
      case "run-expired": {
        const job = this.jobs.get(rec.job);
        const run = job?.active.get(runKey(rec.job, rec.instant));
        if (!job || !run) return `no active run ${runKey(rec.job, rec.instant)}`;
        if (run.state !== "queued") return `run ${runKey(rec.job, rec.instant)} is ${run.state}, not queued`;
        run.reason = rec.reason;
        job.missedCount++;
        job.lastMissed = { at: rec.at, reason: rec.reason, count: 1 };
        this.finish(job, run, "expired", rec.at);
        return undefined;
      }
      case "attempt-launching": {
        const job = this.jobs.get(rec.job);
        const run = job?.active.get(runKey(rec.job, rec.instant));
        if (!run) return `no active run ${runKey(rec.job, rec.instant)}`;
        if (run.state !== "queued") return `run ${runKey(rec.job, rec.instant)} is ${run.state}, not queued`;
        if (this.tasks.has(rec.taskId) || run.attempts.some((a) => a.taskId === rec.taskId)) return `task ${rec.taskId} was already launched`;
        const attempt: Attempt = { taskId: rec.taskId, agentId: rec.agentId, launchedAt: rec.at };
        run.attempts.push(attempt);
        run.state = "launching";
        this.tasks.set(rec.taskId, { run, attempt });
        return undefined;
      }
      case "attempt-started": {
        const t = this.tasks.get(rec.taskId);
        if (!t || t.attempt.end) return `no active attempt ${rec.taskId}`;
        if (t.attempt.startedAt !== undefined) return `attempt ${rec.taskId} already started`;
        t.attempt.startedAt = rec.at;
        if (t.run.state === "launching") t.run.state = "running";
        return undefined;
      }
      case "attempt-kill": {
        const t = this.tasks.get(rec.taskId);
        if (!t || t.attempt.end) return `no active attempt ${rec.taskId}`;
        if (t.attempt.kill) return `attempt ${rec.taskId} is already being killed`;
        t.attempt.kill = { reason: rec.reason, retry: rec.retry };
        return undefined;
      }
      case "attempt-ended":
        return this.endAttempt(rec);
      case "job-marked-success": {
        const job = this.jobs.get(rec.job);
        if (!job) return `no job ${rec.job}`;
        const t = rec.taskId ? this.tasks.get(rec.taskId) : undefined;
        const awaiting = t?.run ?? [...job.active.values()].find((r) => r.state === "awaiting-report" || (job.spec.async && r.state === "running"));
        if (awaiting && awaiting.job === rec.job) {
          const a = awaiting.attempts[awaiting.attempts.length - 1];
          if (a && !a.end) {
            a.end = "finished";
            a.endedAt = rec.at;
            a.message = "reported success";
          }
          this.succeed(job, awaiting, rec.at);
        } else {
          this.countSuccess(job, rec.at);
        }
        return undefined;
      }
      case "task-progress": {
        const job = this.jobs.get(rec.job);
        if (!job) return `no job ${rec.job}`;
        const t = this.tasks.get(rec.taskId);
        const attempt = t && t.run.job === rec.job ? t.attempt : findAttempt(job, rec.taskId);
        if (!attempt) return `job ${rec.job} has no task ${rec.taskId}`;
        attempt.elementsProcessed = (attempt.elementsProcessed ?? 0) + rec.count;
        return undefined;
      }
      case "async-failed": {
        const t = this.tasks.get(rec.taskId);
        if (!t) return `no active attempt ${rec.taskId}`;
        const job = this.jobs.get(t.run.job)!;
        if (!t.attempt.end) {
          t.attempt.end = "failed";
          t.attempt.endedAt = rec.at;
          t.attempt.exitCode = rec.statusCode;
          t.attempt.message = `reported status ${rec.statusCode}`;
        }
        this.failOrRetry(job, t.run, t.attempt, rec.at);
        return undefined;
      }
    }
  }

  private putJob(spec: JobSpec, at: number): string | undefined {
    const old = this.jobs.get(spec.name);
    try {
      checkParents((n) => this.jobs.get(n)?.spec.parents, spec);
    } catch (err) {
      if (err instanceof JobSpecError) return err.message;
      throw err;
    }
    let eps: number;
    try {
      eps = durationMs(spec.epsilon, "epsilon");
    } catch (err) {
      return (err as Error).message;
    }
    if (!old) {
      this.sortedNames = undefined;
      this.jobs.set(spec.name, {
        spec,
        createdAt: at,
        updatedAt: at,
        scheduleDefinedAt: at,
        cursor: at - eps,
        depSince: at,
        lastManual: 0,
        // Instants within epsilon before the job was posted still run (a start in the past).
        enabledAt: at - eps,
        successCount: 0,
        errorCount: 0,
        errorsSinceLastSuccess: 0,
        missedCount: 0,
        missed: [],
        durations: new Window(DURATION_WINDOW),
        history: [],
        active: new Map(),
      });
      return undefined;
    }
    const next: JobState = { ...old, spec, updatedAt: at };
    if (!sameSchedule(old.spec, spec)) {
      next.scheduleDefinedAt = at;
      next.cursor = Math.max(old.cursor, at - eps);
    }
    if (!sameParents(old.spec, spec)) next.depSince = Math.max(old.depSince, at);
    if (old.spec.disabled && !spec.disabled) next.enabledAt = at;
    this.jobs.set(spec.name, next);
    return undefined;
  }

  private endAttempt(rec: Extract<LedgerRecord, { type: "attempt-ended" }>): string | undefined {
    const t = this.tasks.get(rec.taskId);
    if (!t) return `no active attempt ${rec.taskId}`;
    const { run, attempt } = t;
    if (attempt.end) {
      // An async job's task ends after it reported; nothing more to do than forget the task.
      if (run.state !== "awaiting-report") this.tasks.delete(rec.taskId);
      return undefined;
    }
    attempt.end = rec.end;
    attempt.endedAt = rec.at;
    attempt.message = rec.message;
    if (rec.exitCode !== undefined) attempt.exitCode = rec.exitCode;
    const job = this.jobs.get(run.job)!;
    if (rec.end === "finished" && !attempt.kill) {
      if (job.spec.async && !run.attempts.some((a) => a.message === "reported success")) {
        run.state = "awaiting-report";
        return undefined;
      }
      this.tasks.delete(rec.taskId);
      this.succeed(job, run, rec.at);
      return undefined;
    }
    this.tasks.delete(rec.taskId);
    this.failOrRetry(job, run, attempt, rec.at);
    return undefined;
  }

  private failOrRetry(job: JobState, run: Run, attempt: Attempt, at: number): void {
    this.tasks.delete(attempt.taskId);
    if (FINAL.has(run.state)) return;
    // A task that never started (offer gone, unknown to the master after a failover) is
    // relaunched without using a retry.
    const neverStarted = attempt.end === "dropped" || (attempt.startedAt === undefined && (attempt.end === "lost" || attempt.end === "gone"));
    if (neverStarted && !(attempt.kill && !attempt.kill.retry)) {
      run.state = "queued";
      return;
    }
    const used = run.attempts.filter((a) => a.end !== "dropped" && !(a.startedAt === undefined && (a.end === "lost" || a.end === "gone"))).length;
    const mayRetry = !attempt.kill || attempt.kill.retry;
    if (mayRetry && used <= job.spec.retries) {
      run.state = "queued";
      return;
    }
    run.reason = attempt.kill?.reason ?? attempt.message ?? attempt.end;
    job.errorCount++;
    job.errorsSinceLastSuccess++;
    job.lastError = at;
    this.finish(job, run, "failed", at);
  }

  private succeed(job: JobState, run: Run, at: number): void {
    const first = run.attempts[run.attempts.length - 1];
    if (first) job.durations.add(at - (first.startedAt ?? first.launchedAt));
    this.countSuccess(job, at);
    this.finish(job, run, "succeeded", at);
  }

  private countSuccess(job: JobState, at: number): void {
    job.successCount++;
    job.errorsSinceLastSuccess = 0;
    job.lastSuccess = Math.max(job.lastSuccess ?? 0, at);
  }

  private finish(job: JobState, run: Run, state: RunState, at: number): void {
    run.state = state;
    run.finishedAt = at;
    for (const a of run.attempts) this.tasks.delete(a.taskId);
    job.active.delete(runKey(run.job, run.instant));
    if (job.active.size === 0) this.activeJobs.delete(job.spec.name);
    job.history.unshift(run);
    if (job.history.length > HISTORY_LENGTH) job.history.length = HISTORY_LENGTH;
  }

  /** The snapshot of this state (JSON-safe). */
  toJSON(): LedgerSnapshot {
    return {
      applied: this.applied,
      jobs: [...this.jobs.values()].map((j) => ({ ...j, durations: j.durations.toArray(), active: [...j.active.values()] })),
    };
  }

  static fromJSON(s: LedgerSnapshot): JobsLedger {
    const l = new JobsLedger();
    l.applied = s.applied;
    for (const j of s.jobs) l.restoreJob(j);
    return l;
  }

  /** Puts one job back from its snapshot (a snapshot is replayed job by job). */
  restoreJob(j: LedgerSnapshot["jobs"][number]): void {
    this.sortedNames = undefined;
    this.touch(j.spec.name);
    const job: JobState = { ...j, missed: j.missed ?? [], durations: Window.from(DURATION_WINDOW, j.durations), active: new Map(j.active.map((r) => [runKey(r.job, r.instant), r])) };
    this.jobs.set(job.spec.name, job);
    if (job.active.size > 0) this.activeJobs.add(job.spec.name);
    else this.activeJobs.delete(job.spec.name);
    for (const r of job.active.values()) for (const a of r.attempts) if (!a.end || r.state === "awaiting-report") this.tasks.set(a.taskId, { run: r, attempt: a });
  }
}

/** A job's attempt by task id, among its active runs and its history. */
function findAttempt(job: JobState, taskId: string): Attempt | undefined {
  for (const runs of [job.active.values(), job.history]) {
    for (const r of runs) for (const a of r.attempts) if (a.taskId === taskId) return a;
  }
  return undefined;
}

/** The job a record names directly (records about a task name it through the task). */
function jobOf(rec: LedgerRecord): string | undefined {
  switch (rec.type) {
    case "job-put":
      return rec.spec.name;
    case "job-deleted":
      return rec.name;
    case "run-queued":
    case "runs-missed":
    case "run-expired":
    case "attempt-launching":
    case "job-marked-success":
    case "task-progress":
      return rec.job;
    default:
      return undefined;
  }
}

export interface LedgerSnapshot {
  applied: number;
  jobs: (Omit<JobState, "durations" | "active"> & { durations: number[]; active: Run[] })[];
}

/** The active attempt of a run, if one is out. */
export function activeAttempt(run: Run): Attempt | undefined {
  const a = run.attempts[run.attempts.length - 1];
  return a && !a.end ? a : undefined;
}
