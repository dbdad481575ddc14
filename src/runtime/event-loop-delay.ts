/**
 * How late this process's event loop ran recently, as gauges of the node's metrics: the
 * longest delay (`runtime/event_loop_delay_max_ms`) and the 99th percentile
 * (`runtime/event_loop_delay_p99_ms`) over the last 30 to 60 s. A Raft leader whose loop
 * stalls longer than the election timeout loses its term (its heartbeats wait for the
 * loop), so these tell a stall of the process (a long synchronous handler, a GC pause, a
 * blocking write) from a slow network. Recent rather than since the start: loading the
 * code at start stalls the loop for a second on a busy host, and would hide everything
 * after it. One histogram per process (node's monitorEventLoopDelay, sampling every
 * 20 ms), however many nodes share it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { Metrics } from "../metrics/metrics.js";

/** The window: the gauges cover the last one or two of them. */
export const EVENT_LOOP_WINDOW_MS = 30_000;

interface Window {
  max: number;
  p99: number;
}

let watched: { histogram: IntervalHistogram; previous: Window } | undefined;

function processWatch(): { histogram: IntervalHistogram; previous: Window } {
  if (!watched) {
    const histogram = monitorEventLoopDelay({ resolution: 20 });
    histogram.enable();
    const w = { histogram, previous: { max: 0, p99: 0 } };
    setInterval(() => {
      w.previous = windowOf(histogram);
      histogram.reset();
    }, EVENT_LOOP_WINDOW_MS).unref();
    watched = w;
  }
  return watched;
}

function windowOf(h: IntervalHistogram): Window {
  const ms = (ns: number): number => (Number.isFinite(ns) ? Math.round(ns / 1e4) / 100 : 0);
  return h.count > 0 ? { max: ms(h.max), p99: ms(h.percentile(99)) } : { max: 0, p99: 0 };
}

/** Adds the process's event-loop delay gauges to `metrics`. */
export function watchEventLoopDelay(metrics: Metrics): void {
  const w = processWatch();
  metrics.gauge("runtime/event_loop_delay_max_ms", () => Math.max(w.previous.max, windowOf(w.histogram).max), "Longest event-loop delay of this process in the last 30-60 s (ms)");
  metrics.gauge("runtime/event_loop_delay_p99_ms", () => Math.max(w.previous.p99, windowOf(w.histogram).p99), "99th percentile of this process's event-loop delay in the last 30-60 s (ms)");
}
