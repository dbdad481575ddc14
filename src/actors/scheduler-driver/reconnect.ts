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
 * A successful subscription resets both. A leader announced meanwhile (a standby naming a
 * master other than the last one the driver followed) starts a new prompt window: a
 * failover that took longer than the window (an election, then a saturated new leader
 * recovering 50,000 agents) no longer leaves the driver waiting out a 30 s backoff once
 * the leader is known.
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

  /**
   * A new leader was announced at `now`: prompt retries again for the window, starting
   * with a jittered delay rather than at once (every scheduler hears of the same leader
   * at about the same moment; the attempt the announcement itself prompts is the caller's).
   * Returns whether a new window started (not when one is running).
   */
  newLeader(now: number): boolean {
    // Within a prompt window already: nothing to restart (and hints that flap between two
    // stale standbys cannot keep the driver from ever backing off: at most once a window).
    if (this.since === undefined || now - this.since < this.prompt.windowMs) return false;
    this.backoff.reset();
    this.since = now;
    this.promptAttempts = 1;
    return true;
  }

  /** Subscribed: the next loss starts a new prompt window. */
  reset(): void {
    this.since = undefined;
    this.promptAttempts = 0;
    this.backoff.reset();
  }
}
