import type { Random } from "../../runtime/random.js";
import { Backoff as CappedBackoff, type BackoffOptions as CappedOptions } from "../../runtime/transports/backoff.js";

export type BackoffOptions = Required<CappedOptions>;

/**
 * The runtime's capped exponential backoff (doubling from initialMs up to maxMs) with
 * "equal jitter": attempt n waits a random time in [d/2, d] for its delay d, so that many
 * schedulers cut off by the same master failure do not come back in lockstep. Seeded,
 * so tests replay.
 */
export class Backoff {
  private readonly capped: CappedBackoff;

  constructor(
    options: BackoffOptions,
    private readonly random: Random,
  ) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(`Backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`);
    }
    this.capped = new CappedBackoff(options);
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.capped.attempts;
  }

  /** The delay before the next attempt; each call counts one failed attempt. */
  next(): number {
    const ceiling = this.capped.next();
    return Math.round(ceiling / 2 + (this.random.next() * ceiling) / 2);
  }

  reset(): void {
    this.capped.reset();
  }
}
