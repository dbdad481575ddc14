/**
 * The one backoff between retries: the ceiling doubles (or grows by `factor`) from
 * `initialMs` up to `maxMs`, and attempt n waits a time drawn from the injected seeded
 * `Random` in [ceiling/2, ceiling] ("equal jitter"), so that many clients cut off by the
 * same failure do not come back in lockstep while a seed still replays exactly. The caller
 * waits on its own clock (an actor's `delay`, the runtime's timers), so the ManualClock
 * drives it in tests. `jitter: "none"` gives the bare ceiling, for a retry timing the
 * protocol documents (status update retries, docs/protocols.md).
 */
import type { Random } from "./random.js";

export interface BackoffOptions {
  /** The ceiling of the first delay. */
  initialMs: number;
  /** The ceiling never grows past this. */
  maxMs: number;
  /** How the ceiling grows per failed attempt (default 2). */
  factor?: number;
  /** "equal" (default): a delay in [ceiling/2, ceiling]; "none": the ceiling itself. */
  jitter?: "equal" | "none";
}

export class Backoff {
  private failures = 0;
  readonly initialMs: number;
  readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: "equal" | "none";

  constructor(
    options: BackoffOptions,
    private readonly random: Random | undefined,
  ) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(`Backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`);
    }
    this.factor = options.factor ?? 2;
    if (!(this.factor >= 1)) throw new RangeError(`Backoff needs factor >= 1 (got ${options.factor})`);
    this.jitter = options.jitter ?? "equal";
    if (this.jitter === "equal" && !random) throw new RangeError("A jittered Backoff needs a Random (the component's seeded source)");
    this.initialMs = options.initialMs;
    this.maxMs = options.maxMs;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The ceiling of the next delay, without counting an attempt. */
  ceiling(): number {
    return Math.min(this.maxMs, this.initialMs * this.factor ** Math.min(this.failures, 60));
  }

  /** The delay before the next attempt; each call counts one failed attempt. */
  next(): number {
    const ceiling = this.ceiling();
    this.failures++;
    if (this.jitter === "none") return ceiling;
    return Math.round(ceiling / 2 + (this.random!.next() * ceiling) / 2);
  }

  /** After a success: the next failure starts from initialMs again. */
  reset(): void {
    this.failures = 0;
  }
}
