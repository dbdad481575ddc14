/**
 * The policy of a task's health check, as Mesos's health checker: the first probe runs
 * delay after start, each next one interval after the previous one ended; a probe that
 * has not answered within the timeout is aborted and counts as a failure. Until the
 * first success, failures within the grace period (from start) are not counted. Health
 * is reported when it changes (the first result included); consecutive_failures counted
 * failures in a row end the checker and ask for the task to be killed.
 *
 * Time comes from an injected Clock; the probe is a function (health-probes.ts has the
 * COMMAND, HTTP and TCP ones), so the policy is tested on a ManualClock.
 */
import type { Clock, Timer } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import type { HealthPolicy } from "./health-check.js";
import { transitionChecker } from "../runtime/transitions.js";

/** Resolves when healthy, rejects with the reason otherwise; must stop work when aborted. */
export type HealthProbe = (signal: AbortSignal) => Promise<void>;

export interface HealthCallbacks {
  /** The task's health changed (the first counted result included). */
  changed(healthy: boolean, message: string): void;
  /** consecutive_failures counted failures in a row: the task must be killed. Called once. */
  failed(message: string): void;
}

export enum CheckerState {
  CREATED = "CREATED",
  /** Waiting for the delay or the interval before the next probe. */
  WAITING = "WAITING",
  PROBING = "PROBING",
  STOPPED = "STOPPED",
}

const checkTransition = transitionChecker<CheckerState>({
  [CheckerState.CREATED]: [CheckerState.WAITING, CheckerState.STOPPED],
  [CheckerState.WAITING]: [CheckerState.PROBING, CheckerState.STOPPED],
  [CheckerState.PROBING]: [CheckerState.WAITING, CheckerState.STOPPED],
  [CheckerState.STOPPED]: [],
}, "health checker");

export interface HealthCheckerStats {
  probes: number;
  successes: number;
  /** Failures that counted (outside the grace period or after a success). */
  failures: number;
  /** Failures ignored within the grace period before the first success. */
  graceFailures: number;
  timeouts: number;
  /** Probe results that arrived after the checker stopped or the probe timed out. */
  staleResults: number;
}

export class HealthChecker {
  private current = CheckerState.CREATED;
  private startedAt = 0;
  private timer: Timer | undefined;
  private inFlight: { controller: AbortController; timeout: Timer; seq: number } | undefined;
  private seq = 0;
  private succeededOnce = false;
  private consecutive = 0;
  private healthy: boolean | undefined;
  readonly stats: HealthCheckerStats = { probes: 0, successes: 0, failures: 0, graceFailures: 0, timeouts: 0, staleResults: 0 };

  constructor(
    private readonly name: string,
    private readonly policy: HealthPolicy,
    private readonly probe: HealthProbe,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly callbacks: HealthCallbacks,
  ) {}

  get state(): CheckerState {
    return this.current;
  }

  /** The last reported health, undefined before the first counted result. */
  get isHealthy(): boolean | undefined {
    return this.healthy;
  }

  get consecutiveFailures(): number {
    return this.consecutive;
  }

  private to(next: CheckerState): void {
    checkTransition(this.current, next, this.name);
    this.log.debug({ task: this.name, from: this.current, to: next }, `Health checker of ${this.name}: ${this.current} -> ${next}`);
    this.current = next;
  }

  start(): void {
    this.startedAt = this.clock.now();
    this.wait(this.policy.delayMs);
  }

  stop(): void {
    if (this.current === CheckerState.STOPPED) return;
    this.to(CheckerState.STOPPED);
    this.timer?.cancel();
    this.timer = undefined;
    this.abortInFlight();
  }

  private wait(ms: number): void {
    this.to(CheckerState.WAITING);
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      this.runProbe();
    });
  }

  private abortInFlight(): void {
    const f = this.inFlight;
    if (!f) return;
    this.inFlight = undefined;
    f.timeout.cancel();
    f.controller.abort();
  }

  private runProbe(): void {
    this.to(CheckerState.PROBING);
    this.stats.probes++;
    const seq = ++this.seq;
    const controller = new AbortController();
    const seconds = this.policy.timeoutMs / 1000;
    const timeout = this.clock.setTimer(this.policy.timeoutMs, () => {
      this.stats.timeouts++;
      this.result(seq, false, `the check did not answer within its timeout of ${seconds} s`);
    });
    this.inFlight = { controller, timeout, seq };
    let outcome: Promise<void>;
    try {
      outcome = this.probe(controller.signal);
    } catch (err) {
      outcome = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    outcome.then(
      () => this.result(seq, true, "the check succeeded"),
      (err: unknown) => this.result(seq, false, err instanceof Error ? err.message : String(err)),
    );
  }

  private result(seq: number, ok: boolean, message: string): void {
    if (this.current !== CheckerState.PROBING || this.inFlight?.seq !== seq) {
      this.stats.staleResults++;
      this.log.debug({ task: this.name, ok, message }, `Health checker of ${this.name}: ignoring a late probe result (${this.current})`);
      return;
    }
    this.abortInFlight();
    if (ok) this.succeeded();
    else if (!this.failedProbe(message)) return;
    // A callback may have stopped the checker (the task ended meanwhile).
    if (this.state === CheckerState.STOPPED) return;
    this.wait(this.policy.intervalMs);
  }

  private succeeded(): void {
    this.stats.successes++;
    this.succeededOnce = true;
    this.consecutive = 0;
    this.report(true, "Health check succeeded");
  }

  /** Counts a failure; false when the checker gave up (stopped, task to be killed). */
  private failedProbe(message: string): boolean {
    const elapsed = this.clock.now() - this.startedAt;
    if (!this.succeededOnce && elapsed < this.policy.gracePeriodMs) {
      this.stats.graceFailures++;
      this.log.info({ task: this.name, message }, `Health check of ${this.name} failed within the grace period (not counted): ${message}`);
      return true;
    }
    this.stats.failures++;
    this.consecutive++;
    const max = this.policy.consecutiveFailures;
    this.log.warn({ task: this.name, message, consecutive: this.consecutive, max }, `Health check of ${this.name} failed (${this.consecutive} of ${max} in a row): ${message}`);
    this.report(false, `Health check failed: ${message}`);
    if (this.consecutive < max) return true;
    this.stop();
    this.callbacks.failed(`Health check failed ${this.consecutive} times in a row: ${message}`);
    return false;
  }

  private report(healthy: boolean, message: string): void {
    if (this.healthy === healthy) return;
    this.healthy = healthy;
    this.log.info({ task: this.name, healthy }, `Task ${this.name} is ${healthy ? "healthy" : "unhealthy"}`);
    this.callbacks.changed(healthy, message);
  }
}
