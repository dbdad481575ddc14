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
import { readFileSync } from "node:fs";
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
  /**
   * The main thread's own time over the window (Linux: /proc/thread-self/schedstat): on a CPU,
   * and runnable but waiting for one. Absent elsewhere.
   */
  mainCpuMs?: number;
  mainWaitMs?: number;
}

/** The main thread's on-CPU and waiting (run_delay) ms so far; undefined where /proc has no schedstat. */
function mainThreadTimes(): { cpuMs: number; waitMs: number } | undefined {
  try {
    const [cpu, wait] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
    return { cpuMs: Number(cpu) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return undefined;
  }
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

/**
 * What a stall says, in words: the collector, the main thread waiting for a CPU (other
 * threads of the process or other processes had it: at 50,000 agents, V8's concurrent
 * marking on its helper threads; docs/scale.md, "Session 12"), a long turn, or a process that
 * was not run.
 */
export function stallCause(s: LoopStall): string {
  if (s.gcMs >= s.heldMs / 2) return "garbage collection";
  const rest = (s.heldMs - s.gcMs) / 2;
  if (s.mainWaitMs !== undefined && s.mainWaitMs >= rest) return "the main thread waited for a CPU";
  if ((s.mainCpuMs ?? s.cpuMs) >= rest) return "a long turn";
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
  let lastMain = mainThreadTimes();
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const main = mainThreadTimes();
    const heldMs = now - last - INTERVAL_MS;
    if (heldMs >= thresholdMs) {
      const from = last;
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      const mainMs = main && lastMain ? { mainCpuMs: main.cpuMs - lastMain.cpuMs, mainWaitMs: main.waitMs - lastMain.waitMs } : {};
      setTimeout(() => {
        const gc = gcInside(w.pauses, from, now);
        const stall: LoopStall = { from, to: now, heldMs, gcMs: gc.ms, gcMajorMs: gc.majorMs, gcLongestMs: gc.longestMs, cpuMs, ...mainMs };
        for (const l of w.listeners) l(stall);
      }, SETTLE_MS).unref();
    }
    last = now;
    lastCpu = cpu;
    lastMain = main;
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
    const main = s.mainCpuMs !== undefined && s.mainWaitMs !== undefined ? { mainCpuMs: r(s.mainCpuMs), mainWaitMs: r(s.mainWaitMs) } : undefined;
    log.warn(
      { heldMs: r(s.heldMs), gcMs: r(s.gcMs), gcMajorMs: r(s.gcMajorMs), gcLongestMs: r(s.gcLongestMs), cpuMs: r(s.cpuMs), ...main },
      `Event loop held ${r(s.heldMs)} ms: GC ${r(s.gcMs)} ms of it (major ${r(s.gcMajorMs)}, longest pause ${r(s.gcLongestMs)}), CPU ${r(s.cpuMs)} ms` +
        `${main ? ` (main thread ${main.mainCpuMs} ms, waiting for a CPU ${main.mainWaitMs} ms)` : ""}; ${stallCause(s)}`,
    );
  });
}
