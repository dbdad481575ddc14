/**
 * The agent's disk reads and writes in flight (checkpoints, status update streams, recovery).
 * Attached to the actor system's clock as a work source: a ManualClock's settle() waits for
 * them, so a simulation sees every checkpoint complete before clock time moves on, however
 * loaded the machine is. A real clock ignores work sources.
 */
import type { Clock, WorkSource } from "../../runtime/clock.js";

export class DiskActivity implements WorkSource {
  private inFlight = 0;
  private clock: Clock | undefined;

  /** Registers with the clock (a second attach is a no-op). */
  attach(clock: Clock): void {
    if (this.clock) return;
    this.clock = clock;
    clock.track(this);
  }

  detach(): void {
    this.clock?.untrack(this);
    this.clock = undefined;
  }

  idle(): boolean {
    return this.inFlight === 0;
  }

  /** Counts `io` until it settles; returns it unchanged. */
  track<T>(io: Promise<T>): Promise<T> {
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
    };
    io.then(done, done);
    return io;
  }
}
