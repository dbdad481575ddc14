/**
 * Coalesces bursts of changes into few reloads: at most one run at a time, and at most one
 * start per `intervalMs` (`--reload-interval`). A request while a run is in progress or
 * too soon after the last start is remembered and served by one later run, which sees
 * everything requested until it starts.
 */
import type { Clock, Timer } from "../../runtime/clock.js";

export class Coalescer {
  private running = false;
  private pending = false;
  private timer: Timer | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = false;
  /** Runs started so far. */
  runs = 0;
  /** Requests made so far. */
  requests = 0;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly work: () => Promise<void>,
  ) {}

  /** Something changed: run soon. */
  request(): void {
    if (this.stopped) return;
    this.requests++;
    this.pending = true;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.running || this.timer || !this.pending || this.stopped) return;
    const wait = Math.max(0, this.lastStart + this.intervalMs - this.clock.now());
    this.timer = this.clock.setTimer(wait, () => {
      this.timer = undefined;
      void this.start();
    });
  }

  private async start(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    this.pending = false;
    this.lastStart = this.clock.now();
    this.runs++;
    try {
      await this.work();
    } finally {
      this.running = false;
      this.schedule();
    }
  }
}
