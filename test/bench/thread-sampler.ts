/**
 * Per-thread CPU of one process, sampled from outside it (the scale bench's
 * `--thread-trace=DIR`): every `intervalMs` the on-CPU and runnable-but-waiting time of each
 * of its threads (`/proc/<pid>/task/<tid>/schedstat`: on-CPU ns, run_delay ns), written as
 * one JSON line per sample with the wall clock. What a stall of a master's event loop was
 * made of that the stall line cannot say: its main thread's time (tid = pid) against V8's
 * helper threads (concurrent marking and sweeping), the libuv pool and the NATS tap's
 * worker. Linux only; a process or thread gone between two samples is skipped.
 */
import { appendFileSync, readdirSync, readFileSync } from "node:fs";

/** One thread's counters: on-CPU ms and run_delay ms since it started. */
export type ThreadTimes = Record<string, [cpuMs: number, waitMs: number]>;

/** Every thread of `pid` now; empty when the process is gone. */
export function threadTimes(pid: number): ThreadTimes {
  const out: ThreadTimes = {};
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const [cpu, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ");
      out[tid] = [Math.round(Number(cpu) / 1e4) / 100, Math.round(Number(wait) / 1e4) / 100];
    } catch {
      // the thread ended
    }
  }
  return out;
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
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), pid: p, mark: mark(), threads: threadTimes(p) })}\n`);
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
