/**
 * The token bucket that paces a scale-harness framework's short launches (scale-framework.ts):
 * `rate` tokens a second, at most one second's worth (at least one token) kept, so a lull is
 * not followed by a burst.
 *
 * Each bucket starts at its own phase (`start(rate, phase)`, phase in [0, 1): the fraction
 * of a token it holds at the start). Buckets that all started empty at the same instant
 * stayed in step: at 50,000 agents × 200 frameworks (0.5 launches/s each) the 200 frameworks
 * launched together every 2 s, 200 ACCEPTs in the same few milliseconds followed by their
 * 400 updates and 400 acknowledgements, and the leader's busy time came in 2-s waves (docs/scale.md,
 * "Session 10"): the steady window measured how long a burst of 200 launches takes to clear,
 * not a steady load. Phases drawn from each framework's seeded Random spread the same 100
 * launches/s over the whole period.
 */
export class LaunchPacer {
  private tokens = 0;
  private rate = 0;
  private last: number;

  constructor(private readonly now: () => number) {
    this.last = now();
  }

  /** Launches per second from now on; a bucket starting (from 0) holds `phase` of a token. */
  start(rate: number, phase: number): void {
    if (!(phase >= 0 && phase < 1)) throw new RangeError(`LaunchPacer phase must be in [0, 1), not ${phase}`);
    this.refill();
    if (this.rate === 0 && rate > 0) this.tokens = phase;
    this.rate = rate;
    this.last = this.now();
  }

  /** Whether a token is there now (refilling first). */
  ready(): boolean {
    this.refill();
    return this.tokens >= 1;
  }

  /** Takes a token (after ready()); false when there is none. */
  take(): boolean {
    if (!this.ready()) return false;
    this.tokens--;
    return true;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(Math.max(1, this.rate), this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
}
