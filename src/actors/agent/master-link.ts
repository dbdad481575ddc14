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

  constructor(
    private readonly host: MasterLinkHost,
    private readonly options: MasterLinkOptions,
  ) {
    this.backoff = new Backoff({ initialMs: options.backoffMs, maxMs: Math.max(options.backoffMs, options.maxBackoffMs) }, host.random);
  }

  /**
   * Starts (or restarts) registering: an attempt now, or after `firstDelayMs` (a new
   * leader's spread: LeadingMaster.reregister_within_ms), then retries until registered().
   */
  start(firstDelayMs = 0): void {
    this.stop();
    this.backoff.reset();
    this.attempts = 0;
    if (firstDelayMs <= 0) return this.attempt();
    this.retryTimer = this.host.delay(firstDelayMs, () => {
      this.retryTimer = undefined;
      this.attempt();
    });
  }

  private attempt(): void {
    this.attempts++;
    this.host.attempt();
    const wait = this.backoff.next();
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
