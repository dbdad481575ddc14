import type { Random } from "../../runtime/random.js";
import { Backoff, type BackoffOptions } from "../../runtime/backoff.js";

export interface PromptRetryOptions {
  /**
   * How long after losing a master (or starting) the driver keeps retrying promptly: a
   * failover (new Raft leader plus its recovery) fits in it; a cluster down for longer is
   * left alone with the capped backoff.
   */
  windowMs: number;
  /** Most wait between prompt attempts (each waits a random time in [max/4, max]). */
  maxDelayMs: number;
}

/**
 * When the driver tries a master next. Right after it loses a master it retries at once,
 * then for `windowMs` with short jittered delays, going round the known masters (a failover
 * takes an election plus recovery: backing off exponentially here only adds whole seconds
 * after the new leader is ready). Once the window is over the attempts use the capped
 * exponential backoff with jitter, so a cluster that is really down is not hammered.
 * A successful subscription resets both.
 */
export class ReconnectDelays {
  private readonly backoff: Backoff;
  /** Clock ms the current run of failures started at; undefined after a success. */
  private since: number | undefined;
  private promptAttempts = 0;

  constructor(
    backoff: BackoffOptions,
    private readonly prompt: PromptRetryOptions,
    private readonly random: Random,
  ) {
    if (!(prompt.windowMs >= 0) || !(prompt.maxDelayMs > 0)) {
      throw new RangeError(`Prompt retries need windowMs >= 0 and maxDelayMs > 0 (got ${prompt.windowMs}, ${prompt.maxDelayMs})`);
    }
    this.backoff = new Backoff(backoff, random);
  }

  /** Failed attempts since the last success. */
  get attempts(): number {
    return this.promptAttempts + this.backoff.attempts;
  }

  /** The delay before the next attempt, now that one failed (or a master was lost) at `now`. */
  next(now: number): number {
    this.since ??= now;
    if (now - this.since >= this.prompt.windowMs) return this.backoff.next();
    const first = this.promptAttempts === 0;
    this.promptAttempts++;
    if (first) return 0;
    const max = this.prompt.maxDelayMs;
    return Math.round(max / 4 + (this.random.next() * max * 3) / 4);
  }

  /** Subscribed: the next loss starts a new prompt window. */
  reset(): void {
    this.since = undefined;
    this.promptAttempts = 0;
    this.backoff.reset();
  }
}
