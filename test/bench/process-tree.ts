/**
 * What this process's descendants cost, read from /proc: for benches that share their
 * process with an agent and want "the agent" and "whatever supervises the tasks" apart.
 *
 * CPU: a descendant that ended and was waited for adds its time (and its reaped children's)
 * to its parent's cutime/cstime, up to ours; one still running is counted from its own
 * stat (utime+stime+cutime+cstime). A `TreeCpu` snapshot taken before and after a run
 * gives the CPU the tree spent in between, whichever way its processes ended.
 * Memory: PSS (/proc/<pid>/smaps_rollup), so the pages many processes share (the same
 * binary, the same libraries) are split between them instead of counted once each.
 */
import { readdirSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { clockTicksPerSecond, listProcesses, readStat, type ProcStat } from "../../src/isolation/proc.js";

/** The live descendants of `root` (default: this process), by a walk of the ppid links. */
export async function descendants(root = process.pid): Promise<ProcStat[]> {
  const all = await listProcesses();
  const children = new Map<number, ProcStat[]>();
  for (const s of all) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.pop()!) ?? []) {
      out.push(c);
      queue.push(c.pid);
    }
  }
  return out;
}

export interface TreeCpu {
  /** This process's own CPU (process.cpuUsage), ms. */
  selfMs: number;
  /** Its reaped descendants' CPU (cutime+cstime), ms. */
  reapedMs: number;
  /** Each live descendant's CPU (with its own reaped children), ms, by pid/start time. */
  live: Map<string, number>;
}

function ticksToMs(t: number): number {
  return (t * 1000) / clockTicksPerSecond();
}

export async function treeCpu(): Promise<TreeCpu> {
  const self = await readStat(process.pid);
  const u = process.cpuUsage();
  const live = new Map<string, number>();
  for (const s of await descendants()) live.set(`${s.pid}/${s.startTime}`, ticksToMs(s.utimeTicks + s.stimeTicks + s.cutimeTicks + s.cstimeTicks));
  return { selfMs: (u.user + u.system) / 1000, reapedMs: self ? ticksToMs(self.cutimeTicks + self.cstimeTicks) : 0, live };
}

/** CPU spent between two snapshots: by this process, and by its descendants (live or reaped). */
export function cpuBetween(a: TreeCpu, b: TreeCpu): { selfMs: number; descendantsMs: number } {
  let liveMs = 0;
  for (const [key, ms] of b.live) liveMs += ms - (a.live.get(key) ?? 0);
  // A process live at `a` and reaped by `b` is in b.reapedMs whole: take its part before `a` out.
  for (const [key, ms] of a.live) if (!b.live.has(key)) liveMs -= ms;
  return { selfMs: b.selfMs - a.selfMs, descendantsMs: b.reapedMs - a.reapedMs + liveMs };
}

/** Proportional set size of a process in bytes (0 when it is gone). */
export async function pssBytes(pid: number): Promise<number> {
  try {
    const m = /^Pss:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** One thread's counters since it started: on-CPU ms and run_delay ms (runnable, waiting for a CPU). */
export type ThreadTimes = Record<string, [cpuMs: number, waitMs: number]>;

/**
 * Every live thread of `pid` now, from /proc/<pid>/task/<tid>/schedstat ("<on-cpu ns>
 * <run_delay ns> <timeslices>"); empty when the process is gone or the kernel keeps no
 * schedstats, a thread that ended since the listing left out.
 */
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
      out[tid] = [Number(cpu) / 1e6, Number(wait ?? 0) / 1e6];
    } catch {
      // The thread ended since the listing.
    }
  }
  return out;
}

/**
 * How long a process's threads have waited runnable for a CPU so far (ms): `allMs` the sum of
 * run_delay over its live threads, `mainMs` its main thread's alone (tid = pid: a node
 * process's event loop), and `mainCpuMs` the main thread's time on a CPU; 0 when it is gone. Taken before and after a window, the difference
 * over the window's wall time is how starved the process was (ms per s): on a machine it
 * shares with other busy processes, the time it could have run and did not. Over all its
 * threads it can pass 1,000 ms per s (GC helpers and the libuv pool wait too).
 */
export function runDelayMs(pid: number): { allMs: number; mainMs: number; mainCpuMs: number } {
  const threads = threadTimes(pid);
  let allMs = 0;
  for (const [, waitMs] of Object.values(threads)) allMs += waitMs;
  const main = threads[String(pid)];
  return { allMs, mainMs: main?.[1] ?? 0, mainCpuMs: main?.[0] ?? 0 };
}
