/**
 * The launch lane: launches of agent-run tasks go ahead of the end of other containers.
 *
 * Why. In a busy agent every hop of a launch (RunTask, sandbox, the containerizer's launch,
 * the executor checkpoint, the RUNNING update) waits behind whatever else the agent's event
 * loop and its disk queue hold, and much of that is the end of other tasks: their terminal
 * updates (a record and an fsync each), the removal of their checkpoints, their containers'
 * cleanup. With twenty tasks in flight on one agent the launches and the ends interleave
 * hop by hop and each launch takes as long as both. A task's end reported some ms later
 * costs a framework little; a launch some ms later is what `RunTask → TASK_RUNNING`
 * measures (the `containers` bench).
 *
 * What. A launch is in the lane from RunTask until its TASK_RUNNING is asked for (or its
 * launch failed). While one is, the end of a container (its termination as the
 * containerizer reports it: the agent's terminal update and everything that follows) waits,
 * in the order the ends came, until no launch is left in the lane, and never longer than
 * `maxWaitMs` (counted from the first end that waited: a steady stream of launches cannot
 * hold ends for ever). Nothing is reordered among launches or among ends. A kill is sent
 * at once; only the report of the container's end may wait.
 *
 * Determinism. The lane is plain state of the agent actor and its one timer is the actor's
 * (the agent's clock: a ManualClock in the simulations), so a run with a given seed does
 * the same things in the same order as before, only ends later.
 */
import type { Timer } from "../../runtime/clock.js";

/** Longest an end waits behind launches (AgentOptions.launchLaneMaxWaitMs). */
export const DEFAULT_LAUNCH_LANE_MAX_WAIT_MS = 100;

export class LaunchLane {
  private readonly launching = new Set<string>();
  private readonly waiting: (() => void)[] = [];
  private timer: Timer | undefined;

  constructor(
    /** A timer of the agent actor: fn runs inside it after ms. */
    private readonly delay: (ms: number, fn: () => void) => Timer,
    /** 0: ends never wait (the lane is off). */
    private readonly maxWaitMs: number,
  ) {}

  /** Launches in the lane now. */
  get launches(): number {
    return this.launching.size;
  }

  /** Ends waiting behind them. */
  get ends(): number {
    return this.waiting.length;
  }

  /** The launch `key` (a container id) is under way. */
  begin(key: string): void {
    if (this.maxWaitMs > 0) this.launching.add(key);
  }

  /** The launch `key` has asked for TASK_RUNNING, or failed (a second call is a no-op). */
  settle(key: string): void {
    if (!this.launching.delete(key) || this.launching.size > 0) return;
    this.release();
  }

  /** Runs `end` now when no launch is under way, else once none is (at most maxWaitMs after the first end waited). */
  afterLaunches(end: () => void): void {
    if (this.launching.size === 0) {
      if (this.waiting.length > 0) this.release();
      end();
      return;
    }
    this.waiting.push(end);
    this.timer ??= this.delay(this.maxWaitMs, () => {
      this.timer = undefined;
      this.release();
    });
  }

  private release(): void {
    this.timer?.cancel();
    this.timer = undefined;
    // An end may start or settle launches; the ones queued before it still run now, in order.
    for (const end of this.waiting.splice(0)) end();
  }
}
