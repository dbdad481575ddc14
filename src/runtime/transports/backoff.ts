/** Capped exponential backoff between reconnection attempts. */
export interface BackoffOptions {
  /** Delay before the first retry (default 50 ms). */
  initialMs?: number;
  /** The delay never grows past this (default 5 s). */
  maxMs?: number;
}

export class Backoff {
  private failures = 0;
  readonly initialMs: number;
  readonly maxMs: number;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 50;
    this.maxMs = Math.max(this.initialMs, options.maxMs ?? 5000);
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  next(): number {
    const delay = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return delay;
  }

  reset(): void {
    this.failures = 0;
  }

  get attempts(): number {
    return this.failures;
  }
}
