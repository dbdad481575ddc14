/**
 * How late this process's event loop runs: a timer every 100 ms notes how much later than
 * due it fired, with the loop's idle time so far (`performance.eventLoopUtilization`). Two
 * views of the samples, for a master to act on (the event-loop-delay gauges,
 * event-loop-delay.ts, cover 30-60 s for operators):
 *
 * - `loopLagMs()`: the largest lateness of the last ~2 s (20 samples; the sample being made
 *   counts too). A stall shows in it for ~2 s after it passed (the reregistration pacer).
 * - `loopBehindMs()`: how far behind the loop is NOW: the sample being made (a loop held
 *   right now is late by the time since the timer was due), or a recorded lateness less the
 *   time the loop has been idle since. A loop that waited idle has served what the stall
 *   left queued, so one passed stall of 1.3 s at half a core weighs 1 s after ~0.6 s and
 *   nothing after ~2.6 s; a saturated loop (no idle time) keeps its lateness until it
 *   idles. Launch admission refuses on it (docs/scale.md "Admission control of launches").
 * - `loopIdleShare()`: the share of the ~1 s up to the last sample the loop spent idle: how
 *   fast it idles a lateness off (launch admission's retry-after: the time to idle off what
 *   is past its limit; a loop busy with a stall's backlog is told to wait the longest).
 *
 * One timer per process, unref'd, started by the first call. `LoopLateness` is the
 * arithmetic over the samples, with the times passed in (tests drive it by hand).
 */
const INTERVAL_MS = 100;
const SAMPLES = 20;

/** The last SAMPLES samples of a loop's lateness, each with the loop's idle time when it was taken. */
export class LoopLateness {
  private readonly late = new Float64Array(SAMPLES);
  private readonly idleAt = new Float64Array(SAMPLES);
  private readonly at = new Float64Array(SAMPLES).fill(Number.NaN);
  private next = 0;

  /** A sample taken at `atMs`: the meter's timer fired `lateMs` late, the loop having been idle `idleMs` in all so far. */
  record(lateMs: number, idleMs: number, atMs: number): void {
    this.late[this.next] = Math.max(0, lateMs);
    this.idleAt[this.next] = idleMs;
    this.at[this.next] = atMs;
    this.next = (this.next + 1) % SAMPLES;
  }

  /**
   * The share of time the loop spent idle between the newest sample and the newest one at
   * least `overMs` before it (or the oldest kept), in [0, 1]; 1 with fewer than two samples.
   * Up to the newest sample, not to now: during a stall, how idle the loop was before it.
   */
  idleShare(overMs = 1000): number {
    const newest = (this.next - 1 + SAMPLES) % SAMPLES;
    let from = -1;
    for (let k = 2; k <= SAMPLES; k++) {
      const i = (this.next - k + SAMPLES) % SAMPLES;
      if (Number.isNaN(this.at[i]!)) break;
      from = i;
      if (this.at[newest]! - this.at[i]! >= overMs) break;
    }
    if (from < 0 || !(this.at[newest]! > this.at[from]!)) return 1;
    return Math.min(1, Math.max(0, (this.idleAt[newest]! - this.idleAt[from]!) / (this.at[newest]! - this.at[from]!)));
  }

  /** The largest lateness of the samples and of the one being made (`pendingMs`: the time since the timer was due). */
  maxMs(pendingMs: number): number {
    let max = Math.max(0, pendingMs);
    for (const s of this.late) if (s > max) max = s;
    return max;
  }

  /**
   * How far behind the loop is now: the lateness of the sample being made, or of a sample
   * less the loop's idle time since it (`idleNowMs`: the idle time in all now).
   */
  behindMs(pendingMs: number, idleNowMs: number): number {
    let behind = Math.max(0, pendingMs);
    for (let i = 0; i < SAMPLES; i++) {
      const left = this.late[i]! - Math.max(0, idleNowMs - this.idleAt[i]!);
      if (left > behind) behind = left;
    }
    return behind;
  }
}

let meter: { samples: LoopLateness; due: number } | undefined;

function processMeter(): { samples: LoopLateness; due: number } {
  if (!meter) {
    const m = { samples: new LoopLateness(), due: performance.now() + INTERVAL_MS };
    setInterval(() => {
      const now = performance.now();
      m.samples.record(now - m.due, performance.eventLoopUtilization().idle, now);
      m.due = now + INTERVAL_MS;
    }, INTERVAL_MS).unref();
    meter = m;
  }
  return meter;
}

/** The largest lateness of the loop over the last ~2 s (ms). */
export function loopLagMs(): number {
  const m = processMeter();
  return m.samples.maxMs(performance.now() - m.due);
}

/** How far behind the loop is now (ms): its lateness now, or a recent one less the loop's idle time since. */
export function loopBehindMs(): number {
  const m = processMeter();
  return m.samples.behindMs(performance.now() - m.due, performance.eventLoopUtilization().idle);
}

/** The share of the ~1 s up to the last sample the loop spent idle, in [0, 1]. */
export function loopIdleShare(): number {
  return processMeter().samples.idleShare();
}
