import { activeAttempt, epsilonOf, nextInstant, scheduleOf, type JobsLedger, type JobState, type Run } from "./ledger.js";
import type { LedgerRecord } from "./records.js";
import { Heap, type HeapItem } from "../../runtime/heap.js";

export interface PlanOptions {
  /** Due instants looked at per job and pass (the rest next pass; default 1,000). */
  maxInstantsPerJob?: number;
  /** Instants missed while a job is disabled are written in one record at most this often (default 1 h). */
  disabledFlushMs?: number;
  /** Why a queued run has not launched (offers that did not fit), for its expiry record. */
  waitingReason?: (run: Run) => string | undefined;
}

export interface Plan {
  /** Records to write, in order, before anything is acted on. */
  records: LedgerRecord[];
  /** When to plan again at the latest (undefined: only on a change). */
  wakeAt: number | undefined;
}

export const LATE_REASON = "not started within epsilon of its due instant (no jobs leader, or no quorum of masters)";
export const DISABLED_REASON = "the job was disabled at its due instant";
export const BUSY_REASON = "concurrent is false and the previous run was still active past epsilon";

/**
 * What the jobs leader must write now: runs that fall due, instants that can no longer
 * run (with the reason), queued runs past their epsilon, attempts past
 * maxCompletionTime, dependent runs whose parents all succeeded. A pure function of the
 * ledger and the time: a new leader computes the same plan from the same ledger.
 */
export function plan(ledger: JobsLedger, now: number, options: PlanOptions = {}): Plan {
  const records: LedgerRecord[] = [];
  let wakeAt: number | undefined;
  const wake = (t: number) => {
    wakeAt = wakeAt === undefined ? t : Math.min(wakeAt, t);
  };
  const cache = planCache(ledger, options);
  const touched = ledger.takeTouched();
  let names: Iterable<string>;
  if (!cache.primed) {
    cache.primed = true;
    names = ledger.names();
  } else {
    const due = new Set<string>([...touched, ...cache.busy]);
    for (let top = cache.heap.peek(); top && top.until <= now; top = cache.heap.peek()) due.add(cache.heap.pop()!.name);
    names = [...due].sort();
  }
  for (const name of names) {
    const job = ledger.jobs.get(name);
    if (!job) {
      cache.forget(name);
      continue;
    }
    const scheduled = job.spec.parents.length === 0;
    const before = records.length;
    let until = Infinity;
    const wakeJob = (t: number) => {
      until = Math.min(until, t);
      wake(t);
    };
    if (scheduled) planScheduled(job, now, options, records, wakeJob);
    else planDependent(ledger, job, now, records);
    expireAndTimeOut(job, now, options, records, wakeJob);
    if (scheduled && records.length === before) cache.quiet(name, until);
    else cache.keepBusy(name);
  }
  const next = cache.heap.peek();
  if (next) wake(next.until);
  return { records, wakeAt };
}

/**
 * What the planner remembers of a ledger so that a pass plans only the jobs that changed
 * (records about them were applied), fell due, or are busy — not all of them.
 *
 * A scheduled job that wrote nothing when planned is quiet until the earliest of its
 * wake-ups: every record the planner writes is due to the time crossing one of them, so
 * until then, and while no record about the job is applied, planning it again writes
 * nothing. Quiet jobs wait in a heap by that instant. Busy jobs are planned every pass:
 * those that wrote records (until they are applied) and dependent jobs (they depend on
 * their parents' state too). The plan is the same as planning every job: the order of
 * the records (by job name) and the wake-up are the same.
 */
interface QuietJob extends HeapItem {
  name: string;
  until: number;
}

class PlanCache {
  primed = false;
  readonly heap = new Heap<QuietJob>((a, b) => a.until < b.until);
  readonly busy = new Set<string>();
  private readonly quietJobs = new Map<string, QuietJob>();

  constructor(
    readonly maxInstantsPerJob: number | undefined,
    readonly disabledFlushMs: number | undefined,
  ) {}

  quiet(name: string, until: number): void {
    this.busy.delete(name);
    let q = this.quietJobs.get(name);
    if (!q) this.quietJobs.set(name, (q = { name, until, heapIndex: -1 }));
    q.until = until;
    if (Number.isFinite(until)) this.heap.update(q);
    else this.unheap(q);
  }

  keepBusy(name: string): void {
    this.forget(name);
    this.busy.add(name);
  }

  forget(name: string): void {
    this.busy.delete(name);
    const q = this.quietJobs.get(name);
    if (q) this.unheap(q);
    this.quietJobs.delete(name);
  }

  private unheap(q: QuietJob): void {
    if (q.heapIndex < 0) return;
    q.until = -Infinity;
    this.heap.update(q);
    this.heap.pop();
  }
}

const caches = new WeakMap<JobsLedger, PlanCache>();

function planCache(ledger: JobsLedger, options: PlanOptions): PlanCache {
  let c = caches.get(ledger);
  if (!c || c.maxInstantsPerJob !== options.maxInstantsPerJob || c.disabledFlushMs !== options.disabledFlushMs) {
    c = new PlanCache(options.maxInstantsPerJob, options.disabledFlushMs);
    caches.set(ledger, c);
  }
  return c;
}

function planScheduled(job: JobState, now: number, options: PlanOptions, out: LedgerRecord[], wake: (t: number) => void): void {
  const schedule = scheduleOf(job);
  if (!schedule) return;
  const eps = epsilonOf(job);
  const name = job.spec.name;
  const max = options.maxInstantsPerJob ?? 1_000;
  const flushMs = options.disabledFlushMs ?? 3_600_000;
  let busy = !job.spec.concurrent && job.active.size > 0;
  let miss: { from: number; to: number; count: number; reason: string } | undefined;
  const flush = () => {
    if (miss) out.push({ type: "runs-missed", at: now, job: name, trigger: "schedule", ...miss });
    miss = undefined;
  };
  const missed = (i: number, reason: string) => {
    if (miss && miss.reason !== reason) flush();
    if (miss) {
      miss.to = i;
      miss.count++;
    } else miss = { from: i, to: i, count: 1, reason };
  };
  let i = nextInstant(job, job.cursor);
  for (let n = 0; i !== undefined && i <= now; n++) {
    if (n >= max) {
      wake(now);
      break;
    }
    const late = now - i;
    if (job.spec.disabled) {
      missed(i, DISABLED_REASON);
    } else if (i < job.enabledAt) {
      missed(i, DISABLED_REASON);
    } else if (late > eps) {
      missed(i, busy ? BUSY_REASON : LATE_REASON);
    } else if (busy) {
      wake(i + eps + 1);
      break;
    } else {
      flush();
      out.push({ type: "run-queued", at: now, job: name, instant: i, trigger: "schedule" });
      busy = !job.spec.concurrent;
    }
    i = schedule.nextAfter(i);
  }
  if (miss && miss.reason === DISABLED_REASON && job.spec.disabled && now - miss.from < flushMs && miss.count < max) {
    // A disabled job's misses are written in batches, not one record per instant.
    wake(miss.from + flushMs);
    miss = undefined;
  }
  flush();
  if (i !== undefined && i > now) wake(i);
}

function planDependent(ledger: JobsLedger, job: JobState, now: number, out: LedgerRecord[]): void {
  let instant = 0;
  for (const p of job.spec.parents) {
    const parent = ledger.jobs.get(p);
    const done = parent && parentDone(parent);
    if (done === undefined || done <= job.depSince) return;
    instant = Math.max(instant, done);
  }
  const name = job.spec.name;
  if (job.spec.disabled || instant < job.enabledAt) {
    out.push({ type: "runs-missed", at: now, job: name, trigger: "dependency", from: instant, to: instant, count: 1, reason: DISABLED_REASON });
    return;
  }
  // Not concurrent: wait for the active run; the parents' successes stay counted.
  if (!job.spec.concurrent && job.active.size > 0) return;
  out.push({ type: "run-queued", at: now, job: name, instant, trigger: "dependency" });
}

/** When a parent last finished in a way that triggers its children: its last success, or (softError) its last failure too. */
function parentDone(parent: JobState): number | undefined {
  if (parent.spec.softError !== true || parent.lastError === undefined) return parent.lastSuccess;
  return Math.max(parent.lastSuccess ?? parent.lastError, parent.lastError);
}

function expireAndTimeOut(job: JobState, now: number, options: PlanOptions, out: LedgerRecord[], wake: (t: number) => void): void {
  const eps = epsilonOf(job);
  const limit = job.spec.maxCompletionTime;
  for (const run of job.active.values()) {
    if (run.state === "queued" && run.trigger === "schedule" && run.attempts.length === 0) {
      const deadline = run.instant + eps;
      if (now > deadline) {
        const why = options.waitingReason?.(run);
        out.push({ type: "run-expired", at: now, job: run.job, instant: run.instant, reason: `not launched within epsilon ${job.spec.epsilon}${why ? `: ${why}` : ""}` });
      } else wake(deadline + 1);
    }
    const a = activeAttempt(run);
    if (a && limit > 0 && !a.kill) {
      const deadline = (a.startedAt ?? a.launchedAt) + limit;
      if (now >= deadline) out.push({ type: "attempt-kill", at: now, taskId: a.taskId, reason: `ran longer than maxCompletionTime (${limit} ms)`, retry: false });
      else wake(deadline);
    }
  }
}

/** Whether a run waits for an offer. */
export function hasLaunchable(ledger: JobsLedger): boolean {
  for (const name of ledger.activeJobs) for (const run of ledger.jobs.get(name)!.active.values()) if (run.state === "queued") return true;
  return false;
}

/** Runs waiting for an offer, highest priority and oldest first. */
export function launchable(ledger: JobsLedger): Run[] {
  const out: { run: Run; high: boolean }[] = [];
  for (const name of ledger.activeJobs) {
    const job = ledger.jobs.get(name)!;
    for (const run of job.active.values()) if (run.state === "queued") out.push({ run, high: job.spec.highPriority });
  }
  out.sort((a, b) => (a.high !== b.high ? (a.high ? -1 : 1) : a.run.instant - b.run.instant || (a.run.job < b.run.job ? -1 : 1)));
  return out.map((o) => o.run);
}
