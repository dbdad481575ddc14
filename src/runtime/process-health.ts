/**
 * Where this process's memory is and how long garbage collection held its loop, as gauges of
 * the node's metrics. An event-loop stall (event-loop-delay.ts) is either one long turn of
 * our code or a GC pause; these tell the two apart, and tell a heap that grows (objects we
 * keep or make) from buffers that grow (`external`/`array_buffers`: bytes written to sockets
 * faster than peers read them, frames in flight).
 *
 * - `runtime/gc_pause_max_ms`, `runtime/gc_major_pause_max_ms`: the longest pause of any
 *   collection and of a major (mark-compact) one in the last 30-60 s;
 * - `runtime/gc_ms_total`, `runtime/gc_major_count`: all pauses so far (their share of
 *   the CPU is the counter's rate);
 * - `runtime/heap_used_mb`, `heap_total_mb`, `external_mb`, `array_buffers_mb`, `rss_mb`:
 *   process.memoryUsage() when read.
 *
 * One observer per process, however many nodes share it.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { Metrics } from "../metrics/metrics.js";
import { EVENT_LOOP_WINDOW_MS } from "./event-loop-delay.js";

/** Pauses seen: the running window and the one before it, so a gauge covers 30-60 s. */
export class GcPauses {
  totalMs = 0;
  majorCount = 0;
  private current = { max: 0, majorMax: 0 };
  private previous = { max: 0, majorMax: 0 };

  add(durationMs: number, major: boolean): void {
    this.totalMs += durationMs;
    if (durationMs > this.current.max) this.current.max = durationMs;
    if (major) {
      this.majorCount++;
      if (durationMs > this.current.majorMax) this.current.majorMax = durationMs;
    }
  }

  /** Starts a new window (the previous one still counts until the next roll). */
  roll(): void {
    this.previous = this.current;
    this.current = { max: 0, majorMax: 0 };
  }

  get maxMs(): number {
    return Math.max(this.current.max, this.previous.max);
  }

  get majorMaxMs(): number {
    return Math.max(this.current.majorMax, this.previous.majorMax);
  }
}

/** One GC pause on the performance.now() clock. */
export interface GcPause {
  start: number;
  duration: number;
  major: boolean;
}

let pauses: GcPauses | undefined;
const pauseListeners = new Set<(pause: GcPause) => void>();

/** The process's one GC observer: feeds the gauges' windows and every onGcPause listener. */
function processPauses(): GcPauses {
  if (!pauses) {
    const p = new GcPauses();
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind;
        const pause: GcPause = { start: e.startTime, duration: e.duration, major: kind === constants.NODE_PERFORMANCE_GC_MAJOR };
        p.add(pause.duration, pause.major);
        for (const l of pauseListeners) l(pause);
      }
    });
    observer.observe({ entryTypes: ["gc"] });
    setInterval(() => p.roll(), EVENT_LOOP_WINDOW_MS).unref();
    pauses = p;
  }
  return pauses;
}

/** Calls `listener` with every GC pause of this process from now on (the observer above; no second one). */
export function onGcPause(listener: (pause: GcPause) => void): void {
  processPauses();
  pauseListeners.add(listener);
}

/** Adds the process's GC and memory gauges to `metrics`. */
export function watchProcessHealth(metrics: Metrics): void {
  const p = processPauses();
  const round = (n: number): number => Math.round(n * 100) / 100;
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
  metrics.gauge("runtime/gc_pause_max_ms", () => round(p.maxMs), "Longest garbage-collection pause of this process in the last 30-60 s (ms)");
  metrics.gauge("runtime/gc_major_pause_max_ms", () => round(p.majorMaxMs), "Longest major (mark-compact) GC pause in the last 30-60 s (ms)");
  metrics.gauge("runtime/gc_ms_total", () => Math.round(p.totalMs), "Garbage-collection pauses of this process so far (ms)");
  metrics.gauge("runtime/gc_major_count", () => p.majorCount, "Major (mark-compact) collections so far");
  metrics.gauge("runtime/heap_used_mb", () => mb(process.memoryUsage().heapUsed), "V8 heap in use (MiB)");
  metrics.gauge("runtime/heap_total_mb", () => mb(process.memoryUsage().heapTotal), "V8 heap reserved (MiB)");
  metrics.gauge("runtime/external_mb", () => mb(process.memoryUsage().external), "Memory outside the V8 heap held by JS objects, buffers included (MiB)");
  metrics.gauge("runtime/array_buffers_mb", () => mb(process.memoryUsage().arrayBuffers), "ArrayBuffers and Buffers (MiB)");
  metrics.gauge("runtime/rss_mb", () => mb(process.memoryUsage.rss()), "Resident set size (MiB)");
}
