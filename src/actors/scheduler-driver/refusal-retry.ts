/**
 * What a framework does when the leading master refuses a call because it is busy
 * (RESOURCE_EXHAUSTED with a `retry-after-ms` detail; the master's admission control,
 * docs/scale.md): nothing was done, so the same call (same offers, same task ids) is made
 * again after the wait the master asked for, jittered, and growing while refusals go on:
 * attempt n waits at least the retry-after of refusal n and a time drawn in [c/2, c] for a
 * ceiling c that starts at twice the first refusal's retry-after and doubles up to `maxMs`
 * (the runtime's Backoff). The master's retry-after says when it may take the call (a
 * short one after a passed stall, launch-admission.ts), so a later, longer one is kept.
 * So 200 frameworks refused in the same instant do not come back in the same instant, and
 * a seed replays the same waits. Any other failure, or a refusal without a retry-after,
 * settles the call at once, as do `maxAttempts` refusals in a row.
 *
 *   const retry = new RefusalRetry(clock, random);
 *   await retry.run(() => driver.launch([offerId], tasks));
 */
import { Backoff } from "../../runtime/backoff.js";
import type { Clock } from "../../runtime/clock.js";
import { Code, DcosError, retryAfterMs } from "../../runtime/error.js";
import type { Random } from "../../runtime/random.js";

export interface RefusalRetryOptions {
  /** The longest wait between attempts (default 10 s). */
  maxMs?: number;
  /** Refusals in a row before the call fails with the last one (default 20). */
  maxAttempts?: number;
}

export class RefusalRetry {
  /** Calls refused and made again, over this object's life. */
  retried = 0;
  private readonly maxMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    options: RefusalRetryOptions = {},
  ) {
    this.maxMs = options.maxMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 20;
  }

  /** The waits before the next attempts of one call, each after a refusal with that retry-after, as `run` draws them (for tests and tools). */
  waits(): (retryAfter: number) => number {
    let backoff: Backoff | undefined;
    return (retryAfter) => {
      backoff ??= new Backoff({ initialMs: Math.max(1, Math.min(this.maxMs, 2 * retryAfter)), maxMs: Math.max(1, this.maxMs) }, this.random);
      return Math.max(retryAfter, backoff.next());
    };
  }

  /** Makes the call, and again after each refusal with a retry-after, as above. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    const next = this.waits();
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (err) {
        const after = DcosError.is(err, Code.RESOURCE_EXHAUSTED) ? retryAfterMs(err) : undefined;
        if (after === undefined || attempt >= this.maxAttempts) throw err;
        const ms = next(after);
        this.retried++;
        await new Promise<void>((resolve) => this.clock.setTimer(ms, resolve));
      }
    }
  }
}
