/**
 * The agent's timers towards its master: registration attempts with a jittered backoff that
 * doubles up to a cap (Mesos: 1 s factor, 1 min cap), and the ping watchdog that declares
 * the master lost after it missed a number of pings (Mesos: 5 × 15 s). Pure bookkeeping;
 * the agent actor gives it its own delay() and decides what the messages say.
 */
import type { Timer } from "../../runtime/clock.js";
import type { Random } from "../../runtime/random.js";
import { Backoff } from "../../runtime/backoff.js";

export interface MasterLinkOptions {
  backoffMs: number;
  maxBackoffMs: number;
  maxMissedPings: number;
  /** Used until the master says its ping interval. */
  defaultPingIntervalSeconds: number;
}

export interface MasterLinkHost {
  delay(ms: number, fn: () => void): Timer;
  random: Random;
  /** Send one (re)registration attempt. */
  attempt(): void;
  /** The watchdog fired: no ping for `silentMs`. */
  lost(silentMs: number): void;
}

export class MasterLink {
  private retryTimer: Timer | undefined;
  private readonly backoff: Backoff;
  private watchdog: Timer | undefined;
  private pingTimeoutMs = 0;
  /** Attempts since the last start(). */
  attempts = 0;
  /** Added to the wait before the next retry (start()'s retryAfterMs, once). */
  private retryFloorMs = 0;

  constructor(
    private readonly host: MasterLinkHost,
    private readonly options: MasterLinkOptions,
  ) {
    this.backoff = new Backoff({ initialMs: options.backoffMs, maxMs: Math.max(options.backoffMs, options.maxBackoffMs) }, host.random);
  }

  /**
   * Starts (or restarts) registering: an attempt now, or after `firstDelayMs` (a new
   * leader's spread: LeadingMaster.reregister_within_ms), then retries until registered().
   * `retryAfterMs` (a new leader's patience: LeadingMaster.retry_after_ms, capped by the
   * longest backoff) is added to the wait before the first retry only: the leader itself
   * asked and answers in its own time, so a copy sent after the usual 0.5-1 s would only be
   * decoded and handled again by a leader already busy; a lost attempt is still retried,
   * jittered, after it.
   */
  start(firstDelayMs = 0, retryAfterMs = 0): void {
    this.stop();
    this.backoff.reset();
    this.attempts = 0;
    this.retryFloorMs = Math.min(Math.max(0, retryAfterMs), this.backoff.maxMs);
    if (firstDelayMs <= 0) return this.attempt();
    this.retryTimer = this.host.delay(firstDelayMs, () => {
      this.retryTimer = undefined;
      this.attempt();
    });
  }

  private attempt(): void {
    this.attempts++;
    this.host.attempt();
    const wait = this.backoff.next() + this.retryFloorMs;
    this.retryFloorMs = 0;
    this.retryTimer = this.host.delay(wait, () => {
      this.retryTimer = undefined;
      this.attempt();
    });
  }

  /**
   * An attempt since start() is on its way to a leader that says it answers within
   * `retryAfterMs` (its own announcement came after the agent had found it): the next retry
   * waits that long more from now (capped by the longest backoff, jittered by the backoff as
   * usual). Nothing while no attempt was made since start() (the first one's timer stands).
   */
  postpone(retryAfterMs: number): void {
    if (this.attempts === 0 || !this.retryTimer || !(retryAfterMs > 0)) return;
    this.retryTimer.cancel();
    const wait = Math.min(retryAfterMs, this.backoff.maxMs) + this.backoff.next();
    this.retryTimer = this.host.delay(wait, () => {
      this.retryTimer = undefined;
      this.attempt();
    });
  }

  /** Registration succeeded: stop retrying, watch for pings. */
  registered(pingIntervalSeconds: number): void {
    this.stop();
    const interval = pingIntervalSeconds > 0 ? pingIntervalSeconds : this.options.defaultPingIntervalSeconds;
    this.pingTimeoutMs = interval * 1000 * this.options.maxMissedPings;
    this.pinged();
  }

  /** A ping came: the watchdog starts over. */
  pinged(): void {
    this.watchdog?.cancel();
    this.watchdog = this.host.delay(this.pingTimeoutMs, () => {
      this.watchdog = undefined;
      this.host.lost(this.pingTimeoutMs);
    });
  }

  stop(): void {
    this.retryTimer?.cancel();
    this.retryTimer = undefined;
    this.watchdog?.cancel();
    this.watchdog = undefined;
  }
}
