/**
 * Where a process's latency tail can come from, measured over a window: how late its event
 * loop ran (node's event-loop delay histogram, 1 ms resolution) and its garbage collector's
 * pauses. The Raft benchmark takes one in the leader's process and one in the clients'.
 */
import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";

export interface LoopStalls {
  /** Event-loop delay beyond the 1 ms timer, ms. */
  loop_p50: number;
  loop_p99: number;
  loop_max: number;
  /** GC pauses in the window: how many, their total and the longest, ms. */
  gc_count: number;
  gc_total: number;
  gc_max: number;
}

export class LoopProbe {
  private readonly gcs: number[] = [];

  private constructor(
    private readonly delay: IntervalHistogram,
    private readonly observer: PerformanceObserver,
  ) {}

  static start(): LoopProbe {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    let probe: LoopProbe | undefined = undefined;
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe?.gcs.push(e.duration);
    });
    probe = new LoopProbe(delay, observer);
    observer.observe({ entryTypes: ["gc"] });
    delay.enable();
    return probe;
  }

  stop(): LoopStalls {
    this.delay.disable();
    this.observer.disconnect();
    // The histogram is in nanoseconds and includes the 1 ms sampling interval itself.
    const ms = (ns: number) => Math.max(0, ns / 1e6 - 1);
    return {
      loop_p50: ms(this.delay.percentile(50)),
      loop_p99: ms(this.delay.percentile(99)),
      loop_max: ms(this.delay.max),
      gc_count: this.gcs.length,
      gc_total: this.gcs.reduce((a, b) => a + b, 0),
      gc_max: Math.max(0, ...this.gcs),
    };
  }
}
