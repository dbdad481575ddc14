/**
 * A framework of the scale harness on the real SchedulerDriver (many of them share a process,
 * sim-frameworks-process.ts). It launches `longTasks` tasks that run until killed (the
 * running set a failover must reconcile), then short tasks (`shortMs`, run by the simulated
 * agents, label sim_duration_ms) at a steady `launchesPerS` paced by a token bucket: one task
 * per offer, the rest of the offer back at the next round (refuse 0); the offers of one event
 * it has no work for are declined in one call for `refuseS` seconds, or, with `holdOffers`,
 * kept and launched on as tokens come (every 10 ms). With `tasksPerOffer` > 1 it fills the
 * cluster with up to that many long tasks per offer, in one call. The driver acknowledges every update.
 *
 * It also measures offer→framework: Offer.offered_at_ms, set by the master on its clock, to
 * the offers callback on this process's clock (the same machine's).
 *
 * It measures, per short task: the offer reaching the framework to the task's TASK_RUNNING
 * reaching it (offer→RUNNING), and the launch call to TASK_RUNNING (accept→RUNNING, the
 * master's and the agent's share). After a resubscription it reconciles the long tasks not
 * heard RUNNING since `mark()` (explicitly, again after a jittered backoff of 1 s doubling to
 * 8 s) until all of them are.
 *
 * Preloaded (`preloaded`, the harness's --preload mode, preload-layout.ts): its long tasks
 * already run on the agents, which bring them to the master; it launches none, SUPPRESSes
 * once subscribed, and `adopt()` reconciles them (the same way) until each is heard RUNNING.
 */
import { FrameworkInfo_Capability } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { TaskState, type TaskInfo, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { commandTask, pickResources, refuseFor } from "../../src/actors/scheduler-driver/builders.js";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { RefusalRetry } from "../../src/actors/scheduler-driver/refusal-retry.js";
import { SystemClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { silentLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";
import { Backoff } from "../../src/runtime/backoff.js";
import { DURATION_LABEL } from "./sim-agent.js";
import { LaunchPacer } from "./launch-pacer.js";

export interface ScaleFrameworkOptions {
  masters: string;
  name: string;
  longTasks: number;
  launchesPerS: number;
  shortMs: number;
  refuseS: number;
  /** Long tasks launched on one offer at most (as many as fit; 1: one task per offer). */
  tasksPerOffer?: number;
  /**
   * Keep the offers that come while no token is left and launch on them as tokens come
   * (as Aurora or Cook hold offers), instead of declining them for refuseS: the offers then
   * follow the launches, not agents × frameworks / refuseS.
   */
  holdOffers?: boolean;
  /**
   * Seconds the offers are declined for when the framework has nothing to launch (default
   * IDLE_REFUSE_S, Marathon's --decline_offer_duration): the allocator does not offer that
   * agent to it again for that long unless it revives. refuseS stays the filter of offers
   * declined while it has work (an offer that does not fit, no token without holdOffers).
   */
  idleRefuseS?: number;
  /** REVIVE at most this often (default MIN_REVIVE_INTERVAL_MS, Marathon's --min_revive_offers_interval); 0: at once. */
  minReviveIntervalMs?: number;
  /** The first wait before asking again about tasks not heard after a reconciliation (default 1,000 ms, doubling to 8 times it). */
  reconcileRetryMs?: number;
  /**
   * Launch calls of the fill (the long tasks) in flight at most, refused calls waiting for
   * their retry included; the offers of the others are held until a call settles. 0 (the
   * default): no limit, a call per offer as it comes. A framework that fires a call for each
   * of its 100 offers when the leader admits 5,000 tasks launching in all has most of them
   * refused and retried: at 20,000 agents × 200 frameworks, 16,000-71,000 refusals for
   * 10,000 calls, the framework processes spending on retries the CPU the leader needed.
   * Marathon bounds its launches the same way (--launch_tokens).
   */
  maxLaunchCalls?: number;
  /** Long tasks that already run (the preload mode): their ids and agents. */
  preloaded?: ReadonlyArray<{ taskId: string; agentId: string }>;
  random: Random;
}

/** Marathon declines the offers it has no use for for 120 s by default (--decline_offer_duration). */
export const IDLE_REFUSE_S = 120;
/** Marathon revives at most every 5 s (--min_revive_offers_interval): the failed launches of that time are one REVIVE. */
export const MIN_REVIVE_INTERVAL_MS = 5_000;

/** Counters of one framework; the process sums them. */
export interface ScaleFrameworkCounts {
  subscribed: number;
  resubscribed: number;
  /** Resubscriptions over the run (a new leader, or a stream the driver gave up). */
  resubscriptions: number;
  offers: number;
  declined: number;
  launched: number;
  longLaunched: number;
  longRunning: number;
  longRunningSinceMark: number;
  shortRunning: number;
  finished: number;
  /** Launch calls that failed (the task is launched again under a new id). */
  launchErrors: number;
  /** Launch calls the master refused as busy (RESOURCE_EXHAUSTED, retry-after) and this framework made again after a jittered wait. */
  launchRetries: number;
  /** Launch calls with no answer in time (DEADLINE_EXCEEDED): their tasks were reconciled, not launched again blindly. */
  launchTimeouts: number;
  /** Tasks that ended in any other state (LOST, FAILED, ERROR, DROPPED, …): should stay 0. */
  failed: number;
  /** Distinct updates heard (by uuid; delivery is at least once) and copies heard again. */
  updates: number;
  duplicates: number;
  /** Updates of a task this framework did not launch or in a state it did not expect. */
  unexpected: number;
  /** SUPPRESS and REVIVE calls made, and offers that came while suppressed (made before the master heard the SUPPRESS). */
  suppresses: number;
  revives: number;
  offersWhileSuppressed: number;
  /** Explicit reconciliation calls made (of long tasks not heard RUNNING) and those that failed. */
  reconcileCalls: number;
  reconcileErrors: number;
  /** Tasks named in those calls, and the answers heard (updates without a uuid: the master's reconciliation answers). */
  reconcileAsked: number;
  reconcileAnswers: number;
}

/** How long declines of successive OFFERS events are gathered into one call. */
const DECLINE_BATCH_MS = 200;

/** Why launch calls failed: each distinct reason (ids masked) once on stderr, the first 20 of them. */
const launchErrorReasons = new Set<string>();
function noteLaunchError(err: unknown): void {
  noteReason(launchErrorReasons, "launch call failed", err);
}

/** Why reconciliation calls failed: each distinct reason once on stderr, the first 20. */
const reconcileErrorReasons = new Set<string>();

/** Why streams to the master were lost: each distinct reason once on stderr, the first 20. */
const disconnectReasons = new Set<string>();

function noteReason(seen: Set<string>, what: string, err: unknown): void {
  const reason = String((err as Error)?.message ?? err).replace(/[0-9a-f]{8,}[-0-9a-f]*/g, "<id>").replace(/\d+(\.\d+)?s\b/g, "<n>s").slice(0, 200);
  if (seen.size >= 20 || seen.has(reason)) return;
  seen.add(reason);
  process.stderr.write(`${what}: ${reason}\n`);
}

export class ScaleFramework {
  readonly driver: SchedulerDriver;
  /** Long task id -> agent id. */
  private readonly long = new Map<string, string>();
  private readonly longRunning = new Set<string>();
  /** Offers to decline in the next Decline calls (one per filter length), and their timer. */
  private toDecline = new Map<number, string[]>();
  private declining: NodeJS.Timeout | undefined;
  /** Uuids of the updates heard. */
  private readonly seen = new Set<string>();
  private readonly runningSince = new Set<string>();
  /** Short tasks launched, not yet finished: when the offer came and when the launch was sent. */
  private readonly short = new Map<string, { offerAt: number; acceptAt: number; startingAt: number; running: boolean }>();
  private seq = 0;
  /** Paces the short launches (launchesPerS), from a phase of its own. */
  private readonly pacer = new LaunchPacer(() => performance.now());
  /** Where this framework's launches fall in the period of its rate (LaunchPacer.start). */
  private readonly launchPhase: number;
  private reconciling: NodeJS.Timeout | undefined;
  /** Between explicit reconciliations of the tasks not heard yet: 1 s doubling to 8 s, jittered (as Mesos advises). */
  private readonly reconcileBackoff: Backoff;
  /** Offers kept for later launches (holdOffers), oldest first, and the timer that uses them. */
  private readonly held = new Map<string, Offer>();
  private pumping: NodeJS.Timeout | undefined;
  private launchRate: number;
  /** SUPPRESSed: nothing to launch (the long tasks launched, no short ones asked for). */
  private suppressed = false;
  subscribedAt = 0;
  /** Wall time (Date.now()) of the last resubscription since mark(). */
  resubscribedAt = 0;
  /** Wall time (Date.now()) a long task was last heard RUNNING for the first time since mark(). */
  lastRunningSinceAt = 0;
  readonly counts: ScaleFrameworkCounts = {
    subscribed: 0,
    resubscribed: 0,
    resubscriptions: 0,
    offers: 0,
    declined: 0,
    launched: 0,
    longLaunched: 0,
    longRunning: 0,
    longRunningSinceMark: 0,
    shortRunning: 0,
    finished: 0,
    launchErrors: 0,
    launchRetries: 0,
    launchTimeouts: 0,
    failed: 0,
    updates: 0,
    duplicates: 0,
    unexpected: 0,
    suppresses: 0,
    revives: 0,
    offersWhileSuppressed: 0,
    reconcileCalls: 0,
    reconcileErrors: 0,
    reconcileAsked: 0,
    reconcileAnswers: 0,
  };
  /** Latency samples (ms) since they were last taken. */
  acceptToRunning: number[] = [];
  offerToRunning: number[] = [];
  /** The first leg of accept→RUNNING: the launch call to TASK_STARTING (the rest is its acknowledgement's round trip and RUNNING). */
  acceptToStarting: number[] = [];
  /**
   * The master making an offer to the offer reaching this framework (Offer.offered_at_ms
   * against this process's clock: the same machine's), one sample per offer.
   */
  offerToFramework: number[] = [];
  /**
   * accept→RUNNING in its four legs (the simulated agent stamps each update with the wall time
   * it sent it, TaskStatus.timestamp; same machine): the launch call to the agent sending
   * TASK_STARTING (framework → master → agent), that update to this framework (agent → master →
   * framework), TASK_STARTING heard to the agent sending TASK_RUNNING (the acknowledgement:
   * framework → master → agent), and TASK_RUNNING to this framework.
   */
  legToAgent: number[] = [];
  legStartingBack: number[] = [];
  legAck: number[] = [];
  legRunningBack: number[] = [];

  /** Launch calls of the fill in flight (maxLaunchCalls), and the calls waiting for a slot, oldest first. */
  private launchCalls = 0;
  private readonly launchSlotWaiters: (() => void)[] = [];
  /** Launch calls refused as busy are made again after the master's retry-after, jittered (as a well-behaved framework does). */
  private readonly retry: RefusalRetry;
  /**
   * Long tasks of launch calls that timed out: the master may have run the call (its answer
   * was late) or not (it was still queued at the deadline, and the master does not run such
   * a call). Reconciled after a while: TASK_UNKNOWN means not launched, and the task is
   * launched again; any other answer or update means it was.
   */
  private readonly unsure = new Map<string, string>();
  private unsureTimer: NodeJS.Timeout | undefined;
  /** A REVIVE waiting for the minimum interval since the last one. */
  private reviving: NodeJS.Timeout | undefined;
  private lastReviveAt = -Infinity;

  constructor(private readonly o: ScaleFrameworkOptions) {
    this.launchRate = o.launchesPerS;
    // Drawn first, so it depends on the seed alone (the driver and backoffs draw later, as things happen).
    this.launchPhase = o.random.next();
    this.pacer.start(o.launchesPerS, this.launchPhase);
    for (const t of o.preloaded ?? []) this.long.set(t.taskId, t.agentId);
    const retryMs = o.reconcileRetryMs ?? 1_000;
    this.reconcileBackoff = new Backoff({ initialMs: retryMs, maxMs: 8 * retryMs }, o.random);
    this.retry = new RefusalRetry(new SystemClock(), o.random);
    this.driver = new SchedulerDriver({
      masters: o.masters,
      // One principal per framework, as separate teams' frameworks have (the master admits at most 100 frameworks per principal).
      framework: { name: o.name, principal: o.name, roles: ["*"], user: "root", failoverTimeout: 3600, capabilities: [FrameworkInfo_Capability.PARTITION_AWARE] },
      logger: silentLogger(),
      random: o.random,
      // A loaded leader filling 50,000 agents answered SUBSCRIBE after more than the default
      // 15 s: each attempt given up opened a new connection after a growing backoff, and the
      // frameworks subscribed over minutes (190 of 200 in 255 s).
      subscribeTimeoutMs: 60_000,
      callbacks: {
        offers: (offers) => this.onOffers(offers),
        rescind: (offerId) => void this.held.delete(offerId),
        disconnected: (err) => noteReason(disconnectReasons, "stream to the master lost", err),
        update: (status) => this.onUpdate(status),
        subscribed: (_e, resubscribed) => {
          if (!resubscribed) {
            this.counts.subscribed = 1;
            this.subscribedAt = Date.now();
            // Preloaded: nothing to launch; no offers until there is.
            if (o.preloaded) this.suppressIfIdle();
            return;
          }
          this.counts.resubscribed = 1;
          this.counts.resubscriptions++;
          this.resubscribedAt = Date.now();
          // The old leader's offers are gone with it.
          this.held.clear();
          this.toDecline.clear();
          clearTimeout(this.reconciling);
          this.reconcileBackoff.reset();
          this.reconcileMissing();
          // Launches the old leader accepted whose RunTask never reached an agent are lost
          // with it, and nothing would report on them: ask about every long task not heard
          // from yet as about a timed-out launch (TASK_UNKNOWN launches it again). Preloaded
          // tasks were never launched: adopt() asks about them.
          if (!o.preloaded) for (const [t, a] of this.long) if (!this.longRunning.has(t)) this.unsure.set(t, a);
          if (this.unsure.size > 0) this.unsureTimer ??= setTimeout(() => this.reconcileUnsure(), 5_000);
        },
      },
    });
  }

  get launchesPerS(): number {
    return this.launchRate;
  }

  /**
   * Short task launches per second from now on. A framework with nothing to launch
   * SUPPRESSes its offers (as a well-behaved framework does: otherwise every agent is
   * offered to it and declined again every few seconds) and REVIVEs when it has work.
   */
  set launchesPerS(rate: number) {
    this.launchRate = rate;
    this.pacer.start(rate, this.launchPhase);
    if (rate === 0) {
      this.suppressIfIdle();
      this.declineHeld();
    }
    if (this.o.holdOffers) {
      clearInterval(this.pumping);
      this.pumping = rate > 0 ? setInterval(() => this.pump(), 10) : undefined;
    }
    if (rate > 0) this.reviveIfSuppressed();
  }

  /** Nothing left to launch: the long tasks all launched and no short ones asked for. */
  private get idle(): boolean {
    return this.counts.longLaunched >= this.o.longTasks && this.launchRate === 0;
  }

  /** How long an offer it cannot use now is declined for: long when it has nothing to launch. */
  private get declineFilterS(): number {
    return this.idle ? (this.o.idleRefuseS ?? IDLE_REFUSE_S) : this.o.refuseS;
  }

  /** SUPPRESS once there is nothing left to launch (before declining what it holds, as the offers it declines then go to others). */
  private suppressIfIdle(): void {
    if (this.suppressed || !this.idle) return;
    this.suppressed = true;
    this.counts.suppresses++;
    clearTimeout(this.reviving);
    this.reviving = undefined;
    void this.driver.suppress().catch(() => undefined);
  }

  /** Forget what was heard: count resubscriptions and long tasks RUNNING from now on. */
  mark(): void {
    // A reconciliation still going (a leader changed before) ends here: it would count its answers after the mark.
    clearTimeout(this.reconciling);
    this.reconciling = undefined;
    this.runningSince.clear();
    this.counts.resubscribed = 0;
    this.counts.longRunningSinceMark = 0;
    this.resubscribedAt = 0;
    this.lastRunningSinceAt = 0;
  }

  /** Preloaded tasks: asks about those not heard RUNNING yet until each is (as after a resubscription). */
  adopt(): void {
    clearTimeout(this.reconciling);
    this.reconcileBackoff.reset();
    this.reconcileMissing((t) => !this.longRunning.has(t));
  }

  async stop(): Promise<void> {
    clearTimeout(this.reconciling);
    clearTimeout(this.unsureTimer);
    clearTimeout(this.reviving);
    clearInterval(this.pumping);
    clearTimeout(this.declining);
    await this.driver.teardown().catch(() => undefined);
    await this.driver.stop();
  }

  /** Asks the master about the tasks of timed-out launch calls not heard of since (again every 5 s while any are left). */
  private reconcileUnsure(): void {
    this.unsureTimer = undefined;
    if (this.unsure.size === 0) return;
    const tasks = [...this.unsure].map(([t, a]) => ({ taskId: { value: t }, agentId: { value: a } }));
    void this.driver.reconcile(tasks).catch(() => undefined);
    this.unsureTimer = setTimeout(() => this.reconcileUnsure(), 5_000);
  }

  /** A task of a timed-out launch call: TASK_UNKNOWN (never launched) launches it again; anything else settles it. */
  private settleUnsure(id: string, status: TaskStatus): boolean {
    if (!this.unsure.delete(id)) return false;
    if (status.state !== TaskState.UNKNOWN) return false;
    this.long.delete(id);
    this.counts.launched--;
    this.counts.longLaunched--;
    this.counts.launchErrors++;
    this.reviveIfSuppressed();
    return true;
  }

  /**
   * Asks about the long tasks not heard RUNNING since the mark, and again after a jittered
   * backoff while any is missing. The master answers a known task at once and one on an agent
   * not back yet when the agent reregisters: asking again only covers a lost answer, and
   * asking every second re-answered every known task behind the queue of answers (Mesos's
   * reconciliation guide: retry with exponential backoff).
   */
  private reconcileMissing(unheard = (t: string): boolean => this.longRunning.has(t) && !this.runningSince.has(t)): void {
    this.reconciling = undefined;
    // By default tasks heard RUNNING before and not since: one still launching reports on its own (asking about it during a fill is a storm).
    const missing = [...this.long].filter(([t]) => unheard(t)).map(([t, a]) => ({ taskId: { value: t }, agentId: { value: a } }));
    if (missing.length === 0) return;
    this.counts.reconcileCalls++;
    this.counts.reconcileAsked += missing.length;
    void this.driver.reconcile(missing).catch((err: unknown) => {
      this.counts.reconcileErrors++;
      noteReason(reconcileErrorReasons, "reconcile call failed", err);
    });
    this.reconciling = setTimeout(() => this.reconcileMissing(unheard), this.reconcileBackoff.next());
  }

  private onOffers(offers: Offer[]): void {
    const offerAt = performance.now();
    const wallNow = Date.now();
    if (this.suppressed) this.counts.offersWhileSuppressed += offers.length;
    for (const offer of offers) {
      this.counts.offers++;
      if (offer.offeredAtMs > 0) this.offerToFramework.push(wallNow - offer.offeredAtMs);
      const longNext = this.counts.longLaunched < this.o.longTasks;
      if (longNext && (this.o.tasksPerOffer ?? 1) > 1) {
        this.launchLongBatch(offer);
        continue;
      }
      if (longNext || this.pacer.ready()) {
        if (!this.launchOne(offer, longNext, offerAt)) this.declineSoon(offer.id!.value, this.o.refuseS);
      } else if (this.o.holdOffers && this.launchRate > 0) {
        // No token now: keep the offer for a later launch (pump) rather than decline it.
        this.held.set(offer.id!.value, offer);
      } else {
        // Nothing to launch on it: suppress first (the master stops offering before it hears the declines).
        this.suppressIfIdle();
        this.declineSoon(offer.id!.value, this.declineFilterS);
      }
    }
    this.suppressIfIdle();
  }

  /**
   * Launches as many long tasks on the offer as fit, up to tasksPerOffer, in one call (a
   * framework filling a big cluster does not take one task per offer round).
   */
  private launchLongBatch(offer: Offer): void {
    let n = Math.min(this.o.tasksPerOffer ?? 1, this.o.longTasks - this.counts.longLaunched);
    while (n > 1 && !pickResources(offer, { cpus: Math.round(n * 100) / 1000, mem: 32 * n })) n = Math.floor(n / 2);
    const resources = pickResources(offer, { cpus: 0.1, mem: 32 });
    if (!resources) {
      this.declineSoon(offer.id!.value, this.o.refuseS);
      return;
    }
    const agentId = offer.agentId!.value;
    const ids: string[] = [];
    const tasks: TaskInfo[] = [];
    for (let i = 0; i < n; i++) {
      const taskId = `${this.o.name}-long-${this.seq++}`;
      ids.push(taskId);
      this.long.set(taskId, agentId);
      tasks.push(commandTask({ command: "sleep 600", offer, resources, name: taskId, taskId, labels: { [DURATION_LABEL]: "0" } }));
    }
    this.counts.longLaunched += n;
    this.counts.launched += n;
    // The last long tasks: SUPPRESS before the launch call goes out (the master hears it first and stops offering).
    this.suppressIfIdle();
    void this.inLaunchSlot(() => this.launch(offer, tasks)).catch((err: unknown) => {
      noteLaunchError(err);
      if (DcosError.is(err, Code.DEADLINE_EXCEEDED)) {
        // Launched or not: ask the master later instead of launching the same work twice.
        this.counts.launchTimeouts++;
        for (const id of ids) this.unsure.set(id, agentId);
        this.unsureTimer ??= setTimeout(() => this.reconcileUnsure(), 5_000);
        return;
      }
      this.counts.launchErrors++;
      this.counts.launched -= n;
      this.counts.longLaunched -= n;
      for (const id of ids) this.long.delete(id);
      this.reviveIfSuppressed();
    });
  }

  /** Launches one task (long, or short using a token) on the offer; false if it does not fit. offerAt NaN: a held offer. */
  private launchOne(offer: Offer, longNext: boolean, offerAt: number): boolean {
    const resources = pickResources(offer, { cpus: 0.1, mem: 32 });
    if (!resources) return false;
    const taskId = `${this.o.name}-${longNext ? "long" : "short"}-${this.seq++}`;
    const agentId = offer.agentId!.value;
    if (longNext) {
      this.counts.longLaunched++;
      this.long.set(taskId, agentId);
    } else {
      this.pacer.take();
      this.short.set(taskId, { offerAt, acceptAt: performance.now(), startingAt: 0, running: false });
    }
    this.counts.launched++;
    const labels = { [DURATION_LABEL]: String(longNext ? 0 : this.o.shortMs) };
    const task = commandTask({ command: "sleep 600", offer, resources, name: taskId, taskId, labels });
    void this.launch(offer, [task]).catch((err: unknown) => {
      noteLaunchError(err);
      // The call failed (a failover, a timeout): count it and launch the task again on a
      // later offer under a new id (should the first reach an agent after all, its updates
      // count as unexpected).
      this.counts.launchErrors++;
      this.counts.launched--;
      if (this.long.delete(taskId)) this.counts.longLaunched--;
      this.short.delete(taskId);
      this.reviveIfSuppressed();
    });
    return true;
  }

  /** Runs fn once a launch slot is free (maxLaunchCalls), holding the slot until it settles. */
  private async inLaunchSlot<T>(fn: () => Promise<T>): Promise<T> {
    const max = this.o.maxLaunchCalls ?? 0;
    // A slot freed goes straight to the oldest waiter (see below), so the count never passes max.
    if (max > 0 && this.launchCalls >= max) await new Promise<void>((resolve) => this.launchSlotWaiters.push(resolve));
    else this.launchCalls++;
    try {
      return await fn();
    } finally {
      const next = this.launchSlotWaiters.shift();
      if (next) next();
      else this.launchCalls--;
    }
  }

  /** One launch call on the offer, made again while the master refuses it as busy. */
  private async launch(offer: Offer, tasks: Parameters<SchedulerDriver["launch"]>[1]): Promise<void> {
    try {
      await this.retry.run(() => this.driver.launch([offer.id!.value], tasks, refuseFor(0)));
    } finally {
      this.counts.launchRetries = this.retry.retried;
    }
  }

  /**
   * Work to do again (a failed launch, short tasks asked for): REVIVE if suppressed, at most
   * every minReviveIntervalMs (the failures of that time share one REVIVE, which clears every
   * filter of the framework and has it offered every agent again).
   */
  private reviveIfSuppressed(): void {
    if (!this.suppressed || this.reviving) return;
    const wait = Math.max(0, this.lastReviveAt + (this.o.minReviveIntervalMs ?? MIN_REVIVE_INTERVAL_MS) - performance.now());
    this.reviving = setTimeout(() => {
      this.reviving = undefined;
      if (!this.suppressed || this.idle) return;
      this.suppressed = false;
      this.lastReviveAt = performance.now();
      this.counts.revives++;
      // A REVIVE that fails (no leader, the driver reconnecting) leaves the framework suppressed
      // (the driver resubscribes with its suppressed roles): try again, or it never gets an offer.
      void this.driver.revive().catch(() => {
        this.suppressed = true;
        this.reviveIfSuppressed();
      });
    }, wait);
  }

  /** Holding offers: launches the short tasks the tokens allow on the oldest held offers. */
  private pump(): void {
    if (this.launchRate === 0 || this.held.size === 0) return;
    const unfit: string[] = [];
    for (const [id, offer] of this.held) {
      if (!this.pacer.ready()) break;
      this.held.delete(id);
      if (!this.launchOne(offer, false, Number.NaN)) unfit.push(id);
    }
    for (const id of unfit) this.declineSoon(id, this.o.refuseS);
  }

  /**
   * Declines the offer together with the others of the next DECLINE_BATCH_MS, one call per
   * filter length (a round over many agents comes in parts, a few offers per framework each).
   */
  private declineSoon(id: string, refuseS: number): void {
    this.counts.declined++;
    let batch = this.toDecline.get(refuseS);
    if (!batch) this.toDecline.set(refuseS, (batch = []));
    batch.push(id);
    this.declining ??= setTimeout(() => {
      this.declining = undefined;
      const batches = this.toDecline;
      this.toDecline = new Map();
      for (const [seconds, ids] of batches) void this.driver.decline(ids, refuseFor(seconds)).catch(() => undefined);
    }, DECLINE_BATCH_MS);
  }

  /** Gives back every held offer (going quiet). */
  private declineHeld(): void {
    if (this.held.size === 0) return;
    const ids = [...this.held.keys()];
    this.held.clear();
    for (const id of ids) this.declineSoon(id, this.declineFilterS);
  }

  private onUpdate(status: TaskStatus): void {
    // Delivery is at least once: a copy (same uuid) is counted, never acted on twice.
    // Reconciliation answers carry no uuid and are not counted as updates.
    if (status.uuid.length === 0) this.counts.reconcileAnswers++;
    else {
      const uuid = Buffer.from(status.uuid).toString("hex");
      if (this.seen.has(uuid)) {
        this.counts.duplicates++;
        return;
      }
      this.seen.add(uuid);
      this.counts.updates++;
    }
    const id = status.taskId?.value ?? "";
    if (this.unsure.size > 0 && this.settleUnsure(id, status)) return;
    if (this.long.has(id)) {
      if (status.state !== TaskState.RUNNING) {
        // STAGING: a reconciliation's answer for a task its agent has not reported on yet.
        if (status.state !== TaskState.STARTING && status.state !== TaskState.STAGING) this.counts.unexpected++;
        return;
      }
      if (!this.longRunning.has(id)) {
        this.longRunning.add(id);
        this.counts.longRunning++;
      }
      if (!this.runningSince.has(id)) {
        this.runningSince.add(id);
        this.counts.longRunningSinceMark++;
        this.lastRunningSinceAt = Date.now();
      }
      return;
    }
    const short = this.short.get(id);
    if (!short) {
      this.counts.unexpected++;
      return;
    }
    // The agent's wall-clock stamp on this process's performance clock (the same system clock).
    const sentAt = status.timestamp * 1000 - (Date.now() - performance.now());
    if (status.state === TaskState.STARTING && short.startingAt === 0) {
      short.startingAt = performance.now();
      this.acceptToStarting.push(short.startingAt - short.acceptAt);
      if (status.timestamp > 0) {
        this.legToAgent.push(sentAt - short.acceptAt);
        this.legStartingBack.push(short.startingAt - sentAt);
      }
    } else if (status.state === TaskState.RUNNING && !short.running) {
      short.running = true;
      const now = performance.now();
      if (status.timestamp > 0 && short.startingAt > 0) {
        this.legAck.push(sentAt - short.startingAt);
        this.legRunningBack.push(now - sentAt);
      }
      this.counts.shortRunning++;
      this.acceptToRunning.push(now - short.acceptAt);
      if (!Number.isNaN(short.offerAt)) this.offerToRunning.push(now - short.offerAt);
    } else if (status.state === TaskState.FINISHED) {
      this.short.delete(id);
      this.counts.finished++;
    } else if (status.state !== TaskState.STARTING && status.state !== TaskState.RUNNING) {
      this.short.delete(id);
      this.counts.failed++;
    }
  }

  get outstanding(): number {
    return this.short.size;
  }
}
