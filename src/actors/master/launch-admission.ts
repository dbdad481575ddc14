/**
 * Admission control of framework calls at the leading master, decided before a call joins
 * the master's mailbox (so a refusal costs the leader nothing but the check).
 *
 * A launch (ACCEPT with tasks) costs the leader far more than its own turn: a RunTask to
 * the agent, then TASK_STARTING and TASK_RUNNING, each forwarded to the framework, published
 * as cluster events and acknowledged back. When 200 frameworks fill a cluster at once the
 * calls queue in the mailbox faster than the leader serves them; past the callers' deadline
 * (10 s) every call fails on the client, and the framework launches the same work again on
 * another offer while the first call is still queued: a retry storm that keeps the leader
 * at a full core and loses its term. So, as Mesos does with its per-principal rate limits
 * and as gRPC servers shed load, the leader refuses a launch with RESOURCE_EXHAUSTED and a
 * `retry-after-ms` detail (metadata `dcos-retry-after-ms`) when
 *
 *   - the tasks already launching (STAGING at the master: sent to an agent, no update yet)
 *     plus the tasks of the launch calls still queued would exceed `maxLaunchingTasks`, or
 *   - the oldest framework call still queued has waited longer than `maxQueueMs`
 *     (the leader is behind whatever the cause: updates, a GC, a round), or
 *   - its event loop is more than `maxLoopLagMs` behind (runtime/loop-lag.ts
 *     `loopBehindMs`: late right now, or late recently and not idle since for as long):
 *     at 50,000 agents a leader saturated by the fill itself (0.9 of a core, a fifth of it
 *     in GC) fell 3 s behind with short queues and lost its term, since its Raft
 *     heartbeats wait for the loop too. A leader that has idled since a passed stall has
 *     caught up, and takes launches again (session 10 refused them for ~2 s after any
 *     stall, and each refused launch waited 1-4 s for its retry: the steady window's
 *     6-s tail at 50,000 agents).
 *
 * A refused call did nothing: the framework keeps its offers and tries again after the
 * retry-after (jittered; docs/scale.md "Admission control"). The retry-after says when the
 * leader may take it: for the loop limit the time to idle off how far past it the loop is
 * at the share of time it has been idle lately (at least `MIN_RETRY_AFTER_MS`, at most
 * `retryAfterMs`: a loop with no idle time gets that);
 * for the queue and the launching tasks `retryAfterMs` (a queue past its limit after a stall
 * held seconds of backlog: refusals told to come back sooner were refused again, 6-7 times
 * a call, and each costs the leader a call while it is behind). Calls that reduce work
 * (acknowledgements, declines, kills, suppress, …) are never refused.
 *
 * Separately, a call still queued past its caller's deadline is not run at all (`expired`):
 * its caller has already given up on it and will act on the failure, so running it would do
 * the work twice.
 */
import type { Counter, Metrics } from "../../metrics/metrics.js";
import type { Clock } from "../../runtime/clock.js";
import { Code, DcosError, RETRY_AFTER_DETAIL } from "../../runtime/error.js";
import { loopBehindMs, loopIdleShare } from "../../runtime/loop-lag.js";

export interface LaunchAdmissionLimits {
  /** Tasks launching (STAGING) plus tasks of queued launch calls at most; 0: no limit. Default 5,000. */
  maxLaunchingTasks: number;
  /** A launch is refused while the oldest queued framework call has waited longer than this; 0: no limit. Default 1,000 ms. */
  maxQueueMs: number;
  /** The retry-after told to a caller refused for the launching tasks or the queue, and the longest told for the loop. Default 1,000 ms. */
  retryAfterMs: number;
  /**
   * A launch is refused while the event loop is this far behind; 0: not checked
   * (the default: a framework that does not retry a refusal, as `dcos-node run`, would fail
   * on a loaded host; the scale bench sets 1,000 ms).
   */
  maxLoopLagMs: number;
}

/** The limit a launch was refused for: tasks launching, the queue's wait, the event loop behind. */
export type RefusalLimit = "launching" | "queue" | "loop";

/** The refusal's detail naming its limit (a RefusalLimit). */
export const REFUSED_FOR_DETAIL = "refused-for";

/** The shortest retry-after told: a refusal for the loop is answered once the turn that read it ends. */
export const MIN_RETRY_AFTER_MS = 100;

export const DEFAULT_LAUNCH_ADMISSION: LaunchAdmissionLimits = { maxLaunchingTasks: 5_000, maxQueueMs: 1_000, retryAfterMs: 1_000, maxLoopLagMs: 0 };

/** A call admitted to the mailbox: when it was queued and how many tasks it launches. */
export interface QueuedCall {
  readonly at: number;
  readonly tasks: number;
  started: boolean;
}

export class LaunchAdmission {
  /** Queued calls in the order they were queued; the ones before `head` have started. */
  private queue: QueuedCall[] = [];
  private head = 0;
  private queuedTasks = 0;
  private readonly refused: Counter;
  /** Refusals by the limit that refused them (master/launches_refused/<limit>). */
  private readonly refusedFor: Record<RefusalLimit, Counter>;
  private readonly expiredCalls: Counter;

  constructor(
    private readonly clock: Clock,
    /** Tasks the leader has launched that no agent has reported on yet (STAGING). */
    private readonly launching: () => number,
    readonly limits: LaunchAdmissionLimits,
    metrics: Metrics,
    /** How far behind the event loop is now (ms). */
    private readonly loopLag: () => number = loopBehindMs,
    /** The share of the last ~1 s the event loop spent idle: how fast it idles a lateness off. */
    private readonly loopIdle: () => number = loopIdleShare,
  ) {
    this.refused = metrics.counter("master/launches_refused", "ACCEPTs with tasks refused RESOURCE_EXHAUSTED (admission control: the leader is behind)");
    const by = (limit: RefusalLimit, what: string) => metrics.counter(`master/launches_refused/${limit}`, `ACCEPTs with tasks refused for ${what} (also in master/launches_refused)`);
    this.refusedFor = { launching: by("launching", "the tasks launching and queued"), queue: by("queue", "the wait of the oldest queued call"), loop: by("loop", "the event loop behind") };
    this.expiredCalls = metrics.counter("master/expired_calls", "Framework calls not run because they waited in the master's queue past their caller's deadline");
    metrics.gauge("master/launch_queue_tasks", () => this.queuedTasks, "Tasks of ACCEPT calls queued for the master");
    metrics.gauge("master/framework_call_queue_ms", () => this.oldestWaitMs(), "How long the oldest queued framework call has waited");
  }

  /** How long the oldest call not yet started has waited (0: none queued). */
  oldestWaitMs(): number {
    while (this.head < this.queue.length && this.queue[this.head]!.started) this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const oldest = this.queue[this.head];
    return oldest ? Math.max(0, this.clock.now() - oldest.at) : 0;
  }

  /**
   * Whether a call launching `tasks` tasks may join the queue: undefined if so, else the
   * RESOURCE_EXHAUSTED to answer (counted). Calls without tasks are always admitted.
   */
  check(tasks: number): DcosError | undefined {
    const refused = this.wouldRefuse(tasks);
    if (refused) this.countRefused(refused);
    return refused;
  }

  /** Counts a refusal of wouldRefuse's once it is answered (master/launches_refused, and by its limit). */
  countRefused(refusal: DcosError): void {
    this.refused.inc();
    const limit = refusal.details[REFUSED_FOR_DETAIL] as RefusalLimit | undefined;
    if (limit && limit in this.refusedFor) this.refusedFor[limit].inc();
  }

  /** check() without counting: the refusal to answer, if any (a request gate counts it once it answers it). */
  wouldRefuse(tasks: number): DcosError | undefined {
    if (tasks === 0) return undefined;
    const { maxLaunchingTasks, maxQueueMs, maxLoopLagMs, retryAfterMs } = this.limits;
    const launching = this.launching();
    let why: string | undefined;
    let after = retryAfterMs;
    let limit: RefusalLimit = "launching";
    if (maxLaunchingTasks > 0 && launching + this.queuedTasks > 0 && launching + this.queuedTasks + tasks > maxLaunchingTasks) {
      why = `${launching} tasks launching and ${this.queuedTasks} queued (at most ${maxLaunchingTasks})`;
    } else if (maxQueueMs > 0) {
      const waited = this.oldestWaitMs();
      if (waited > maxQueueMs) {
        why = `its oldest queued call has waited ${Math.round(waited)} ms (at most ${maxQueueMs} ms)`;
        limit = "queue";
      }
    }
    if (why === undefined && maxLoopLagMs > 0) {
      const behind = this.loopLag();
      if (behind > maxLoopLagMs) {
        why = `its event loop is ${Math.round(behind)} ms behind (at most ${maxLoopLagMs} ms)`;
        after = pastLimitRetry(idleTime(behind - maxLoopLagMs, this.loopIdle()), retryAfterMs);
        limit = "loop";
      }
    }
    if (why === undefined) return undefined;
    return DcosError.withoutStack(Code.RESOURCE_EXHAUSTED, `The master is busy launching: ${why}; nothing was done, retry in ${after} ms`, {
      details: { [RETRY_AFTER_DETAIL]: String(after), [REFUSED_FOR_DETAIL]: limit },
    });
  }

  /** A call joins the mailbox. */
  queued(tasks: number): QueuedCall {
    const call: QueuedCall = { at: this.clock.now(), tasks, started: false };
    this.queue.push(call);
    this.queuedTasks += tasks;
    return call;
  }

  /**
   * The call's turn came. Throws DEADLINE_EXCEEDED (counted) if its caller's deadline
   * (`expiresAt`, on this clock) has passed: the caller gave up, so nothing is done.
   */
  started(call: QueuedCall, expiresAt: number | undefined, typeName: string): void {
    this.left(call);
    const now = this.clock.now();
    if (expiresAt !== undefined && now > expiresAt) {
      this.expiredCalls.inc();
      const what = typeName.replace(/^dcos\.v1\./, "").replace(/Request$/, "").toUpperCase();
      throw new DcosError(Code.DEADLINE_EXCEEDED, `${what} waited ${Math.round(now - call.at)} ms in the master's queue, past its deadline; it was not run`);
    }
  }

  /** The call left the queue (it ran, or never could: the actor stopped); once. */
  left(call: QueuedCall): void {
    if (call.started) return;
    call.started = true;
    this.queuedTasks -= call.tasks;
  }
}

/** The time a loop idle `idleShare` of the time takes to idle off `excessMs` of lateness (Infinity if never idle). */
function idleTime(excessMs: number, idleShare: number): number {
  return idleShare > 0 ? excessMs / idleShare : Number.POSITIVE_INFINITY;
}

/** The retry-after of a refusal `excessMs` past its limit: that long, within [MIN_RETRY_AFTER_MS, longest]. */
function pastLimitRetry(excessMs: number, longestMs: number): number {
  return Math.round(Math.min(longestMs, Math.max(MIN_RETRY_AFTER_MS, excessMs)));
}
