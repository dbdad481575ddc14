/**
 * Every stall of this process's event loop longer than a threshold, each told apart when it
 * happens: how long the loop was held, how much of that was garbage collection (pauses of
 * the GC observer that fall inside it), and how much CPU the process had meanwhile. A leader
 * whose loop is held past the election timeout loses its term; this says whether the hold
 * was the collector, a long turn of our code (CPU ≈ held, GC small), or a process the host
 * did not run (CPU far below held). The 30-60 s gauges (event-loop-delay.ts,
 * process-health.ts) give the worst of a window; this gives each stall.
 *
 * One 100-ms timer per process (unref'd) and the process's GC observer (process-health.ts,
 * onGcPause); a stall is logged at warn once the GC entries of
 * its window have been delivered, and counted (`runtime/loop_stalls`, `runtime/loop_stall_gc_ms`).
 */
import type { Counter, Metrics } from "../metrics/metrics.js";
import type { Logger } from "./log.js";
import { onGcPause, type GcPause } from "./process-health.js";

/** What held the loop between two readings of a timer that should have been 100 ms apart. */
export interface LoopStall {
  /** The window: from the timer's previous run to the late one (performance.now() ms). */
  from: number;
  to: number;
  /** How late the timer ran. */
  heldMs: number;
  /** GC pauses inside the window, all and major (mark-compact) ones. */
  gcMs: number;
  gcMajorMs: number;
  gcLongestMs: number;
  /** CPU time (user + system, every thread of the process) over the window. */
  cpuMs: number;
}

/** The part of the GC pauses that falls inside [from, to]. */
export function gcInside(pauses: Iterable<GcPause>, from: number, to: number): { ms: number; majorMs: number; longestMs: number } {
  let ms = 0;
  let majorMs = 0;
  let longestMs = 0;
  for (const p of pauses) {
    const inside = Math.min(p.start + p.duration, to) - Math.max(p.start, from);
    if (inside <= 0) continue;
    ms += inside;
    if (p.major) majorMs += inside;
    if (inside > longestMs) longestMs = inside;
  }
  return { ms, majorMs, longestMs };
}

/** What a stall says, in words: the collector, a long turn, or a process that was not run. */
export function stallCause(s: LoopStall): string {
  if (s.gcMs >= s.heldMs / 2) return "garbage collection";
  if (s.cpuMs >= (s.heldMs - s.gcMs) / 2) return "a long turn";
  return "not run by the host";
}

const INTERVAL_MS = 100;
const KEPT_PAUSES = 512;
/** How long after a stall its GC entries are looked at (the observer delivers them late). */
const SETTLE_MS = 300;

type StallListener = (s: LoopStall) => void;

let watch: { listeners: Set<StallListener>; pauses: GcPause[] } | undefined;

function processWatch(thresholdMs: number): { listeners: Set<StallListener>; pauses: GcPause[] } {
  if (watch) return watch;
  const w = { listeners: new Set<StallListener>(), pauses: [] as GcPause[] };
  onGcPause((pause) => {
    w.pauses.push(pause);
    if (w.pauses.length > KEPT_PAUSES) w.pauses.splice(0, w.pauses.length - KEPT_PAUSES);
  });
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const heldMs = now - last - INTERVAL_MS;
    if (heldMs >= thresholdMs) {
      const from = last;
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      setTimeout(() => {
        const gc = gcInside(w.pauses, from, now);
        const stall: LoopStall = { from, to: now, heldMs, gcMs: gc.ms, gcMajorMs: gc.majorMs, gcLongestMs: gc.longestMs, cpuMs };
        for (const l of w.listeners) l(stall);
      }, SETTLE_MS).unref();
    }
    last = now;
    lastCpu = cpu;
  }, INTERVAL_MS).unref();
  watch = w;
  return w;
}

/**
 * Logs (warn) and counts every stall of this process's loop of `thresholdMs` or more
 * (default 1,000; the first call's threshold holds for the process).
 */
export function watchLoopStalls(metrics: Metrics, log: Logger, thresholdMs = 1_000): void {
  const w = processWatch(thresholdMs);
  const stalls: Counter = metrics.counter("runtime/loop_stalls", `Times this process's event loop was held ${thresholdMs} ms or more`);
  const gcMs: Counter = metrics.counter("runtime/loop_stall_gc_ms", "Garbage collection inside those stalls (ms)");
  const heldMs: Counter = metrics.counter("runtime/loop_stall_ms", "Those stalls in all (ms)");
  const r = (n: number): number => Math.round(n);
  w.listeners.add((s) => {
    stalls.inc();
    heldMs.inc(r(s.heldMs));
    gcMs.inc(r(s.gcMs));
    log.warn(
      { heldMs: r(s.heldMs), gcMs: r(s.gcMs), gcMajorMs: r(s.gcMajorMs), gcLongestMs: r(s.gcLongestMs), cpuMs: r(s.cpuMs) },
      `Event loop held ${r(s.heldMs)} ms: GC ${r(s.gcMs)} ms of it (major ${r(s.gcMajorMs)}, longest pause ${r(s.gcLongestMs)}), CPU ${r(s.cpuMs)} ms; ${stallCause(s)}`,
    );
  });
}
