/**
 * Per-thread CPU of one process, sampled from outside it (the scale bench's
 * `--thread-trace=DIR`): every `intervalMs` the on-CPU and runnable-but-waiting time of each
 * of its threads (`/proc/<pid>/task/<tid>/schedstat`: on-CPU ns, run_delay ns), written as
 * one JSON line per sample with the wall clock. What a stall of a master's event loop was
 * made of that the stall line cannot say: its main thread's time (tid = pid) against V8's
 * helper threads (concurrent marking and sweeping), the libuv pool and the NATS tap's
 * worker. Linux only; a process or thread gone between two samples is skipped.
 */
import { appendFileSync } from "node:fs";
import { threadTimes, type ThreadTimes } from "./process-tree.js";

/** The times to 0.01 ms, as a sample's line keeps them. */
function rounded(threads: ThreadTimes): ThreadTimes {
  const r = (ms: number) => Math.round(ms * 100) / 100;
  return Object.fromEntries(Object.entries(threads).map(([tid, [cpu, wait]]) => [tid, [r(cpu), r(wait)]]));
}

/**
 * Samples the process `pid()` names (the leader may change) every `intervalMs` into `file`
 * until stopped; `mark()` adds a value to every line (e.g. how many output lines the
 * process has printed, to place its --trace-gc lines in time).
 */
export function sampleThreads(file: string, pid: () => number, intervalMs = 50, mark: () => number = () => 0): { stop(): void } {
  const timer = setInterval(() => {
    const p = pid();
    if (p <= 0) return;
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), pid: p, mark: mark(), threads: rounded(threadTimes(p)) })}\n`);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
