/**
 * The last hour of the cluster's resources, sampled on the master so the web UI's plots are
 * full as soon as a page opens (the browser then keeps appending its own samples). One
 * sample per interval, the oldest dropped once it leaves the window.
 */
import type { Clock, Timer } from "../runtime/clock.js";
import type { Logger } from "../runtime/log.js";
import { SampleWindow, type ResourceSample } from "./resource-sample.js";

export type { ResourceSample };

export interface ResourceHistoryOptions {
  clock: Clock;
  /** Reads the cluster's resources now (inside the master); `time` is filled in here. */
  sample: () => Promise<Omit<ResourceSample, "time">>;
  intervalMs?: number;
  windowMs?: number;
  logger?: Logger;
}

export const DEFAULT_SAMPLE_INTERVAL_MS = 10_000;
export const DEFAULT_HISTORY_WINDOW_MS = 60 * 60 * 1000;

export class ResourceHistory {
  private readonly window: SampleWindow;
  private timer: Timer | undefined;
  private stopped = false;
  readonly intervalMs: number;
  readonly windowMs: number;

  constructor(private readonly o: ResourceHistoryOptions) {
    this.intervalMs = o.intervalMs ?? DEFAULT_SAMPLE_INTERVAL_MS;
    this.windowMs = o.windowMs ?? DEFAULT_HISTORY_WINDOW_MS;
    this.window = new SampleWindow(this.windowMs);
    if (!(this.intervalMs > 0) || !(this.windowMs >= this.intervalMs)) {
      throw new RangeError(`Resource history needs 0 < interval (${this.intervalMs} ms) ≤ window (${this.windowMs} ms)`);
    }
  }

  /** Takes a first sample now, then one per interval until `stop()`. */
  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Samples within the window, oldest first. */
  values(): readonly ResourceSample[] {
    return this.window.values();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      this.window.add({ ...(await this.o.sample()), time: this.o.clock.now() });
    } catch (err) {
      // A standby master cannot be read (it does not lead): expected, so not a warning.
      this.o.logger?.debug({ err }, "Skipping a resource history sample: the master could not be read");
    }
    if (!this.stopped) this.timer = this.o.clock.setTimer(this.intervalMs, () => void this.tick());
  }
}
