import type { Random } from "../../runtime/random.js";

export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Growth per attempt; default 2. */
  factor?: number;
}

/**
 * Capped exponential backoff with "equal jitter": attempt n waits a random time in
 * [d/2, d] where d = min(max, initial · factor^n), so that many schedulers cut off by the
 * same master failure do not come back in lockstep. Seeded, so tests replay.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly options: BackoffOptions,
    private readonly random: Random,
  ) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(`Backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`);
    }
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  /** The delay before the next attempt; each call counts one failed attempt. */
  next(): number {
    const ceiling = this.ceiling(this.attempt);
    this.attempt++;
    return Math.round(ceiling / 2 + (this.random.next() * ceiling) / 2);
  }

  /** The upper bound of the delay after `attempt` failures. */
  ceiling(attempt: number): number {
    const factor = this.options.factor ?? 2;
    return Math.min(this.options.maxMs, this.options.initialMs * Math.pow(factor, attempt));
  }

  reset(): void {
    this.attempt = 0;
  }
}
