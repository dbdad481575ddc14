/**
 * How a newly elected leader tells the registry's agents that it leads: in waves that follow
 * what it can take, not at a rate fixed in advance. At most `window` agents are announced
 * and not back yet at any time; each agent that reregisters makes room for the next (the
 * announcements go out in steps of a window's eighth), so the pace is the leader's own
 * (how fast it answers) and the agents' queue at the leader stays short: an agent answered
 * before its first retry (0.5-1 s) sends its reregistration, tasks included, once. While
 * the leader's event loop runs late (`lagMs()` above `maxLagMs`: garbage collection, a
 * long turn, a core it waits for) no wave goes out, so its Raft heartbeats are not
 * queued behind more work. An agent announced `patienceMs` ago and not back (dead, or its
 * message lost) no longer holds a place: it retries on its own backoff. The patience
 * follows the leader's answers: at least 3 times the recent time from announcement to
 * reregistration (a moving average), so on a loaded host, where live agents come back
 * after more than 2 s, their places are not freed early and the window still bounds the
 * queue (with a fixed 2 s, 3,443 of 10,000 agents "expired" at load 25 and their places
 * went to more agents).
 *
 * `ratePerS` > 0 also caps the announcements per second; `window` 0 announces without a
 * window (only the rate, if any, paces them); both 0: every agent at once, as before pacing.
 * A fixed rate was what the leader did before (5,000/s: 10 s at 50,000 agents, however fast
 * it was).
 *
 * Pure bookkeeping on an injected clock, timers and lag (tests: ManualClock, a scripted lag).
 */
import type { Timer } from "../../runtime/clock.js";
import type { Pid } from "../../runtime/pid.js";

export interface PacedAgent {
  id: string;
  pid: Pid;
}

export interface PacingHost {
  now(): number;
  delay(ms: number, fn: () => void): Timer;
  /** Sends the leader's announcement to one agent. */
  announce(pid: Pid): void;
  /** How late the event loop runs now (ms). */
  lagMs(): number;
  /** Every agent announced and back (or given up on): what it took. */
  finished(summary: PacingSummary): void;
}

export interface PacingOptions {
  /** Agents announced and not back at once; 0: no window. */
  window: number;
  /** Announcements per second at most; 0: no cap. */
  ratePerS: number;
  /** No wave while the loop is later than this. */
  maxLagMs: number;
  /** An agent announced this long ago and not back no longer holds a place in the window (at least; see answerMs). */
  patienceMs: number;
  /** How often waiting work (a late loop, the rate, agents past their patience) is looked at again. */
  tickMs: number;
}

export const PACING_DEFAULTS: Omit<PacingOptions, "window" | "ratePerS"> = { maxLagMs: 250, patienceMs: 2_000, tickMs: 100 };

export interface PacingSummary {
  announced: number;
  /** Agents back before their turn came (they found the leader on their own): not announced. */
  skipped: number;
  /** Milliseconds from start() to the last announcement. */
  ms: number;
  /** Times a wave was held because the loop ran late. */
  held: number;
  /** Agents that were not back within patienceMs of their announcement. */
  expired: number;
  /** The most agents announced and not back at once. */
  peakOutstanding: number;
  /** The moving average of announcement -> reregistration at the end (ms; 0: none came back announced). */
  answerMs: number;
  /** The patience at the end: patienceMs, or PATIENCE_FACTOR x answerMs when longer. */
  patienceMs: number;
}

/** Patience is at least this many times the moving average of the answers. */
export const PATIENCE_FACTOR = 3;
/** Weight of a new answer in that average. */
const ANSWER_WEIGHT = 1 / 16;

export class ReregistrationPacer {
  private next = 0;
  /** Announced and not back: agent id -> when announced (insertion order is announcement order). */
  private readonly outstanding = new Map<string, number>();
  /** Announced, past their patience and not back yet: agent id -> when announced. */
  private readonly expired = new Map<string, number>();
  /** Back before their turn: skipped when it comes. */
  private readonly early = new Set<string>();
  private timer: Timer | undefined;
  private startedAt = 0;
  private lastAnnouncedAt = 0;
  private over = false;
  private readonly step: number;
  readonly summary: PacingSummary = { announced: 0, skipped: 0, ms: 0, held: 0, expired: 0, peakOutstanding: 0, answerMs: 0, patienceMs: 0 };
  /** Moving average of announcement -> back (ms); undefined before the first. */
  private answerMs: number | undefined;

  constructor(
    private readonly agents: readonly PacedAgent[],
    private readonly host: PacingHost,
    private readonly o: PacingOptions,
  ) {
    if (!(o.window >= 0) || !(o.ratePerS >= 0) || !(o.tickMs > 0) || !(o.patienceMs > 0)) {
      throw new RangeError(`Reregistration pacing needs window >= 0, ratePerS >= 0, tickMs > 0 and patienceMs > 0 (got ${JSON.stringify(o)})`);
    }
    this.step = Math.max(1, Math.floor(o.window / 8));
  }

  /** Every agent announced and back (or given up on). */
  get finished(): boolean {
    return this.over;
  }

  /** Agents announced and not back now. */
  get waiting(): number {
    return this.outstanding.size;
  }

  start(): void {
    this.startedAt = this.lastAnnouncedAt = this.host.now();
    this.pump();
  }

  /** Agent `id` reregistered (announced or not). */
  back(id: string): void {
    const late = this.expired.get(id);
    if (late !== undefined) {
      // Past its patience but alive: its answer time counts (it is what lengthens the patience).
      this.expired.delete(id);
      this.answered(late);
      return;
    }
    const announcedAt = this.outstanding.get(id);
    if (announcedAt !== undefined) {
      this.outstanding.delete(id);
      this.answered(announcedAt);
      if (this.o.window - this.outstanding.size >= this.step && this.next < this.agents.length) this.pump();
      else if (this.outstanding.size === 0) this.pump();
      return;
    }
    if (this.next < this.agents.length) this.early.add(id);
  }

  private pump(): void {
    if (this.over) return;
    const now = this.host.now();
    const patience = this.patience();
    for (const [id, at] of this.outstanding) {
      if (now - at < patience) break;
      this.outstanding.delete(id);
      this.expired.set(id, at);
      this.summary.expired++;
    }
    if (this.next < this.agents.length) {
      if (this.o.maxLagMs > 0 && this.host.lagMs() > this.o.maxLagMs) this.summary.held++;
      else this.wave(now);
    }
    if (this.next >= this.agents.length && this.outstanding.size === 0) return this.finish();
    this.timer ??= this.host.delay(this.o.tickMs, () => {
      this.timer = undefined;
      this.pump();
    });
  }

  private answered(announcedAt: number): void {
    const took = this.host.now() - announcedAt;
    this.answerMs = this.answerMs === undefined ? took : this.answerMs + (took - this.answerMs) * ANSWER_WEIGHT;
  }

  /** How long an announced agent holds its place: patienceMs, longer while the answers take long (announcements carry it: LeadingMaster.retry_after_ms). */
  patience(): number {
    return Math.max(this.o.patienceMs, PATIENCE_FACTOR * (this.answerMs ?? 0));
  }

  private wave(now: number): void {
    let room = this.o.window > 0 ? this.o.window - this.outstanding.size : Infinity;
    if (this.o.ratePerS > 0) {
      // As many as the rate allows by the next look (a tick from now), less those already sent.
      const allowed = Math.ceil(((now - this.startedAt + this.o.tickMs) * this.o.ratePerS) / 1000);
      room = Math.min(room, allowed - this.summary.announced);
    }
    while (room > 0 && this.next < this.agents.length) {
      const agent = this.agents[this.next++]!;
      if (this.early.delete(agent.id)) {
        this.summary.skipped++;
        continue;
      }
      this.host.announce(agent.pid);
      this.summary.announced++;
      this.lastAnnouncedAt = now;
      room--;
      if (this.o.window > 0) this.outstanding.set(agent.id, now);
    }
    if (this.outstanding.size > this.summary.peakOutstanding) this.summary.peakOutstanding = this.outstanding.size;
  }

  private finish(): void {
    this.over = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.early.clear();
    this.expired.clear();
    this.summary.ms = this.lastAnnouncedAt - this.startedAt;
    this.summary.answerMs = Math.round(this.answerMs ?? 0);
    this.summary.patienceMs = Math.round(this.patience());
    this.host.finished(this.summary);
  }
}
