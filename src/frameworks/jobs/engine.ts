import type { Clock, Timer } from "../../runtime/clock.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { JobSpec } from "./job-spec.js";
import { activeAttempt, JobsLedger, type Run } from "./ledger.js";
import { consume, misfit, type JobOffer } from "./offer-fit.js";
import { hasLaunchable, launchable, plan, type PlanOptions } from "./planner.js";
import { runKey, taskIdFor, type AttemptEnd, type LedgerRecord } from "./records.js";

/**
 * The jobs ledger in the masters' replicated log, held by one writer at a time (a new
 * leader's open fences the previous one's writes out).
 */
export interface LedgerLog {
  /** The ledger replayed from the log (a snapshot and the records after it). */
  load(): Promise<JobsLedger>;
  /**
   * Appends the records and, once committed, applies them in order to the loaded ledger;
   * resolves with each record's verdict (undefined: applied, else why it was ignored). A
   * rejection may still have committed: the ledger ignores a record applied twice.
   */
  write(records: readonly LedgerRecord[]): Promise<(string | undefined)[]>;
}

export type TaskStateName =
  | "staging" | "starting" | "running" | "killing" | "finished" | "failed" | "killed" | "error" | "lost" | "dropped"
  | "gone" | "gone_by_operator" | "unreachable" | "unknown";

export interface JobTaskStatus {
  taskId: string;
  agentId: string;
  state: TaskStateName;
  message: string;
  exitCode?: number;
  /** Acknowledges the update; called only once what it says is in the ledger. */
  ack?: () => void;
}

export interface LaunchTask {
  taskId: string;
  agentId: string;
  spec: JobSpec;
  run: Run;
}

/** The cluster as the jobs engine drives it (the scheduler driver, or a simulation). */
export interface JobsCluster {
  launch(offer: JobOffer, tasks: LaunchTask[]): void;
  decline(offerIds: string[]): void;
  kill(taskId: string, agentId: string): void;
  reconcile(tasks: { taskId: string; agentId: string }[]): void;
  /** Revive (true) or suppress (false) offers. */
  wantOffers(want: boolean): void;
}

export interface JobsEngineOptions {
  log: LedgerLog;
  cluster: JobsCluster;
  clock: Clock;
  logger?: Logger;
  plan?: PlanOptions;
  /** Pause after a failed append before trying again (default 1 s). */
  retryMs?: number;
  /** A launched task not heard of for this long is reconciled (default 30 s). */
  reconcileAfterMs?: number;
  /** Kill requests are repeated this often until the task ends (default 30 s). */
  killRetryMs?: number;
}

const TERMINAL: Record<string, AttemptEnd | undefined> = {
  finished: "finished",
  failed: "failed",
  killed: "killed",
  error: "error",
  lost: "lost",
  unknown: "lost",
  dropped: "dropped",
  gone: "gone",
  gone_by_operator: "gone",
};

/** Task ids to launch per offer id; `unplaced`: a run found no offer that fits. */
type Launches = Map<string, { offer: JobOffer; taskIds: string[] }> & { unplaced?: boolean };

/** At most this often the leader looks at every attempt out (kill resends, reconciliation). */
const TASK_SCAN_MS = 1_000;
/** Offers are held rather than declined while runs fall due within this long. */
const OFFER_HOLD_MS = 1_500;

interface Command {
  records: LedgerRecord[];
  done: (why: string | undefined) => void;
  fail: (err: Error) => void;
  /** Tasks to kill once the records are in the ledger (a deleted job's). */
  kills?: { taskId: string; agentId: string }[];
}

/**
 * The jobs leader's loop: turns due instants, status updates, offers and API commands
 * into ledger records, writes them to the replicated log, and only once they are
 * committed and applied acts on them (launch, kill, acknowledge). One pass at a time.
 * It launches only tasks whose launch record the ledger kept, so a record written twice
 * (a retried append) or by a deposed leader cannot start a run twice.
 */
export class JobsEngine {
  ledger = new JobsLedger();
  private active = false;
  private pumping = false;
  private dirty = false;
  private timer: Timer | undefined;
  private wakeAt: number | undefined;
  private commands: Command[] = [];
  private statuses: JobTaskStatus[] = [];
  private offers: JobOffer[] = [];
  private wantingOffers: boolean | undefined;
  private readonly waiting = new Map<string, string>();
  private readonly killsSent = new Map<string, number>();
  private readonly heard = new Map<string, number>();
  private readonly log: Logger;
  /** Appends that failed (the pass is retried). */
  appendFailures = 0;
  private stale = false;
  /** The plan's next wake-up (a due instant or deadline). */
  private nextDue: number | undefined;
  private lastScan = Number.NEGATIVE_INFINITY;
  private scanNow = true;
  /** When the last look at the attempts out found the next one falling silent. */
  private scanDue = Infinity;
  passes = 0;

  constructor(private readonly options: JobsEngineOptions) {
    this.log = (options.logger ?? silentLogger()).child({ component: "jobs-engine" });
  }

  get leading(): boolean {
    return this.active;
  }

  /** Becomes the acting leader: loads the ledger, reconciles the attempts it names, and starts planning. */
  async start(): Promise<void> {
    const ledger = await this.options.log.load();
    this.ledger = ledger;
    this.active = true;
    this.wantingOffers = undefined;
    this.log.info({ jobs: ledger.jobs.size, records: ledger.applied, attempts: ledger.tasks.size }, "Jobs leader resumed from the ledger");
    this.reconcileAll();
    await this.pump();
  }

  /** Stops acting at once (leadership lost); what is in flight is not acted on. */
  stop(): void {
    this.active = false;
    this.timer?.cancel();
    this.timer = undefined;
    for (const c of this.commands) c.fail(new Error("This jobs scheduler stopped leading"));
    this.commands = [];
    this.statuses = [];
    if (this.offers.length) this.options.cluster.decline(this.offers.map((o) => o.id));
    this.offers = [];
  }

  /** The driver (re)subscribed: ask about every attempt that is out. */
  subscribed(): void {
    if (!this.active) return;
    this.wantingOffers = undefined;
    this.reconcileAll();
    void this.pump();
  }

  addOffers(offers: JobOffer[]): void {
    if (!this.active) {
      this.options.cluster.decline(offers.map((o) => o.id));
      return;
    }
    this.offers.push(...offers);
    void this.pump();
  }

  rescind(offerId: string): void {
    this.offers = this.offers.filter((o) => o.id !== offerId);
  }

  status(s: JobTaskStatus): void {
    if (!this.active) return;
    this.heard.set(s.taskId, this.options.clock.now());
    this.statuses.push(s);
    void this.pump();
  }

  /** Writes records (an API change); resolves with why the ledger ignored the first one, or undefined once applied. */
  write(records: LedgerRecord[], kills?: { taskId: string; agentId: string }[]): Promise<string | undefined> {
    if (!this.active) return Promise.reject(new Error("This jobs scheduler is not the leader"));
    return new Promise((done, fail) => {
      this.commands.push({ records, done, fail, ...(kills ? { kills } : {}) });
      void this.pump();
    });
  }

  /** Why a queued run has not launched yet (the last offers' misfit), if known. */
  whyWaiting(run: Run): string | undefined {
    return this.waiting.get(runKey(run.job, run.instant));
  }

  /** Plans again now (tests and the API's "run now" use it). */
  poke(): void {
    void this.pump();
  }

  private reconcileAll(): void {
    const tasks = [...this.ledger.tasks.values()].map(({ attempt }) => ({ taskId: attempt.taskId, agentId: attempt.agentId }));
    const now = this.options.clock.now();
    for (const t of tasks) this.heard.set(t.taskId, now);
    if (tasks.length) this.options.cluster.reconcile(tasks);
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.dirty = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.dirty = false;
        if (!this.active) return;
        try {
          await this.pass();
        } catch (err) {
          this.appendFailures++;
          this.log.warn({ err: (err as Error).message }, "Jobs ledger pass failed; trying again");
          this.wakeAt = this.options.clock.now() + (this.options.retryMs ?? 1_000);
        }
      } while (this.dirty && this.active);
    } finally {
      this.pumping = false;
      this.arm();
    }
  }

  private async pass(): Promise<void> {
    this.passes++;
    if (this.stale) {
      // A failed write may have committed: replay the log rather than plan from a state that lags it.
      this.ledger = await this.options.log.load();
      this.stale = false;
      if (!this.active) return;
    }
    const now = this.options.clock.now();
    const records: LedgerRecord[] = [];
    const commands = this.commands.splice(0);
    const firstOf = new Map<Command, number>();
    for (const c of commands) {
      firstOf.set(c, records.length);
      records.push(...c.records);
    }
    const acks: (() => void)[] = [];
    this.statusRecords(now, records, acks);
    const planned = plan(this.ledger, now, { ...this.options.plan, waitingReason: (r) => this.waiting.get(runKey(r.job, r.instant)) });
    records.push(...planned.records);
    this.wakeAt = planned.wakeAt;
    this.nextDue = planned.wakeAt;
    const launches = this.launchRecords(now, records);
    if (records.length > 0) {
      let verdicts: (string | undefined)[];
      try {
        verdicts = await this.options.log.write(records);
      } catch (err) {
        this.appendFailures++;
        this.stale = true;
        this.log.warn({ err: (err as Error).message, records: records.length }, "Could not write to the jobs ledger; trying again");
        for (const c of commands) c.fail(new Error(`The jobs ledger could not be written (the change may or may not have been applied): ${(err as Error).message}`));
        this.declineLaunches(launches);
        this.wakeAt = now + (this.options.retryMs ?? 1_000);
        return;
      }
      if (!this.active) return;
      // What was just applied may make more due (a parent's success triggers its children).
      this.dirty = true;
      if (records.some((r) => r.type === "attempt-kill")) this.scanNow = true;
      for (const ack of acks) ack();
      for (const c of commands) {
        c.done(verdicts[firstOf.get(c)!]);
        for (const k of c.kills ?? []) this.options.cluster.kill(k.taskId, k.agentId);
      }
    } else {
      for (const ack of acks) ack();
    }
    this.act(launches, now);
  }

  private statusRecords(now: number, out: LedgerRecord[], acks: (() => void)[]): void {
    const seen = new Set<string>();
    for (const s of this.statuses.splice(0)) {
      const t = this.ledger.tasks.get(s.taskId);
      const end = TERMINAL[s.state];
      if (!t || (t.attempt.end && end)) {
        if (!t && !end) {
          this.log.warn({ task: s.taskId, state: s.state }, `Killing task ${s.taskId}: it is not in the jobs ledger`);
          this.options.cluster.kill(s.taskId, s.agentId);
        }
        if (s.ack) acks.push(s.ack);
        continue;
      }
      if (seen.has(s.taskId)) {
        // One record per task and pass; a later update waits for the next pass.
        this.statuses.push(s);
        this.dirty = true;
        continue;
      }
      if (end) {
        seen.add(s.taskId);
        out.push({ type: "attempt-ended", at: now, taskId: s.taskId, end, message: s.message, ...(s.exitCode !== undefined ? { exitCode: s.exitCode } : {}) });
      } else if (s.state === "running" && t.attempt.startedAt === undefined) {
        seen.add(s.taskId);
        out.push({ type: "attempt-started", at: now, taskId: s.taskId });
      }
      if (s.ack) acks.push(s.ack);
    }
  }

  /**
   * Launch records for queued runs on the offers held: the runs queued before this pass and
   * those this pass queues (their attempt-launching follows their run-queued in the same
   * write, so a run falling due is launched in one write, not two). `unplaced` is set when
   * a run found no offer that fits.
   */
  private launchRecords(now: number, out: LedgerRecord[]): Launches {
    const byOffer: Launches = new Map();
    if (this.offers.length === 0) return byOffer;
    const left = this.offers.map((o) => ({ ...o }));
    const runs: Pick<Run, "job" | "instant" | "attempts">[] = launchable(this.ledger);
    for (const r of out) {
      if (r.type === "run-queued" && this.ledger.jobs.has(r.job) && !this.ledger.jobs.get(r.job)!.active.has(runKey(r.job, r.instant))) {
        runs.push({ job: r.job, instant: r.instant, attempts: [] });
      }
    }
    for (const run of runs) {
      const spec = this.ledger.jobs.get(run.job)!.spec;
      let reason: string | undefined;
      const offer = left.find((o) => {
        const why = misfit(spec, o);
        if (why) reason = why;
        return !why;
      });
      const key = runKey(run.job, run.instant);
      if (!offer) {
        this.waiting.set(key, `no offer fit: ${reason}`);
        byOffer.unplaced = true;
        continue;
      }
      this.waiting.delete(key);
      consume(offer, spec);
      const taskId = taskIdFor(run.job, run.instant, run.attempts.length);
      out.push({ type: "attempt-launching", at: now, job: run.job, instant: run.instant, taskId, agentId: offer.agentId });
      let l = byOffer.get(offer.id);
      if (!l) byOffer.set(offer.id, (l = { offer: this.offers.find((o) => o.id === offer.id)!, taskIds: [] }));
      l.taskIds.push(taskId);
    }
    return byOffer;
  }

  private declineLaunches(launches: Launches): void {
    const ids = this.offers.map((o) => o.id);
    this.offers = [];
    if (ids.length) this.options.cluster.decline(ids);
    launches.clear();
  }

  /**
   * Launches what the ledger kept, kills what must die, revives or suppresses. Offers not
   * used are kept for the next pass while runs wait that they may fit (runs this pass
   * queued without an offer left for them), else declined.
   */
  private act(launches: Launches, now: number): void {
    const unused: JobOffer[] = [];
    const waiting = hasLaunchable(this.ledger);
    let launched = 0;
    for (const offer of this.offers) {
      const l = launches.get(offer.id);
      const tasks: LaunchTask[] = [];
      for (const taskId of l?.taskIds ?? []) {
        const t = this.ledger.tasks.get(taskId);
        if (!t || t.attempt.end || t.attempt.agentId !== offer.agentId || activeAttempt(t.run) !== t.attempt) continue;
        tasks.push({ taskId, agentId: offer.agentId, spec: this.ledger.jobs.get(t.run.job)!.spec, run: t.run });
        this.heard.set(taskId, now);
      }
      if (tasks.length) {
        this.options.cluster.launch(offer, tasks);
        launched += tasks.length;
      } else unused.push(offer);
    }
    // Kept while runs wait that they may fit (launches went out, or the runs came with the
    // write: retries), or while runs fall due within OFFER_HOLD_MS: they launch in the pass
    // that queues them, not one revive later. Offers that fit nothing waiting are declined.
    const dueSoon = this.nextDue !== undefined && this.nextDue - now <= OFFER_HOLD_MS;
    const keep = !launches.unplaced && ((waiting && (launched > 0 || launches.size === 0)) || dueSoon);
    this.offers = keep ? unused : [];
    if (!keep && unused.length) this.options.cluster.decline(unused.map((o) => o.id));
    const reconcileAfter = this.options.reconcileAfterMs ?? 30_000;
    if (launched > 0) this.scanDue = Math.min(this.scanDue, now + reconcileAfter);
    // The attempts out are looked at (kills to send or resend, silent tasks to reconcile) at
    // most once a second, and at once when this pass wrote a kill: not on every pass.
    if (this.scanNow || now - this.lastScan >= TASK_SCAN_MS) {
      this.scanNow = false;
      this.lastScan = now;
      this.scanDue = this.scanTasks(now, reconcileAfter);
    }
    if (Number.isFinite(this.scanDue)) this.wake(Math.max(this.scanDue, this.lastScan + TASK_SCAN_MS));
    if (this.heard.size > 2 * this.ledger.tasks.size + 1_000) this.prune();
    // Revive on a change, and again when this pass used up the offers while runs still wait
    // (the launches and declines just filtered those agents for a second).
    const want = waiting;
    if (want !== this.wantingOffers || (want && launched > 0 && this.offers.length === 0)) {
      this.wantingOffers = want;
      this.options.cluster.wantOffers(want);
    }
  }

  /** Sends due kills and reconciles silent tasks; returns when a task falls silent next (Infinity: none). */
  private scanTasks(now: number, reconcileAfter: number): number {
    const silent: { taskId: string; agentId: string }[] = [];
    let next = Infinity;
    for (const { attempt } of this.ledger.tasks.values()) {
      if (attempt.end) continue;
      if (attempt.kill) {
        const sent = this.killsSent.get(attempt.taskId);
        if (sent === undefined || now - sent >= (this.options.killRetryMs ?? 30_000)) {
          this.killsSent.set(attempt.taskId, now);
          this.options.cluster.kill(attempt.taskId, attempt.agentId);
        }
      }
      if (attempt.startedAt === undefined) {
        const last = this.heard.get(attempt.taskId) ?? attempt.launchedAt;
        if (now - last >= reconcileAfter) {
          this.heard.set(attempt.taskId, now);
          silent.push({ taskId: attempt.taskId, agentId: attempt.agentId });
        } else next = Math.min(next, last + reconcileAfter);
      }
    }
    if (silent.length) this.options.cluster.reconcile(silent);
    return next;
  }

  private prune(): void {
    for (const id of this.heard.keys()) if (!this.ledger.tasks.has(id)) this.heard.delete(id);
    for (const id of this.killsSent.keys()) if (!this.ledger.tasks.has(id)) this.killsSent.delete(id);
    for (const key of this.waiting.keys()) {
      const [job, instant] = [key.slice(0, key.lastIndexOf("@")), Number(key.slice(key.lastIndexOf("@") + 1))];
      if (!this.ledger.jobs.get(job)?.active.has(runKey(job, instant))) this.waiting.delete(key);
    }
  }

  private wake(t: number): void {
    this.wakeAt = this.wakeAt === undefined ? t : Math.min(this.wakeAt, t);
  }

  private arm(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (!this.active || this.wakeAt === undefined) return;
    const delay = Math.max(0, this.wakeAt - this.options.clock.now());
    this.timer = this.options.clock.setTimer(delay, () => {
      this.timer = undefined;
      void this.pump();
    });
  }
}
