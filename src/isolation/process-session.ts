/**
 * The processes of a posix container without cgroups: the launcher starts a new session
 * (and process group) whose id is its own pid, and every process it forks stays in that
 * session unless it calls setsid itself (only cgroups catch those). This file finds them in
 * /proc, signals them, and sums what they use.
 */
import { hasExited, listProcesses, pageSize, clockTicksPerSecond, type ProcStat } from "./proc.js";

/** The live processes whose session or process group is `sid`. */
export async function sessionProcesses(sid: number): Promise<ProcStat[]> {
  const all = await listProcesses();
  return all.filter((p) => (p.session === sid || p.pgrp === sid) && !hasExited(p));
}

/** Sends `signal` to each pid, ignoring the ones that are already gone. */
export function signalEach(pids: Iterable<number>, signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already (ESRCH): nothing to signal
    }
  }
}

/**
 * SIGKILL to the process group `sid` and to every process of the session; resolves with the
 * processes that were still found after the group's kill (none: the session is empty).
 */
export async function killSession(sid: number): Promise<ProcStat[]> {
  try {
    process.kill(-sid, "SIGKILL");
  } catch {
    // no process left in the group
  }
  const left = await sessionProcesses(sid);
  signalEach(left.map((p) => p.pid), "SIGKILL");
  return left;
}

export interface ProcessTotals {
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  memRssBytes: number;
  processes: number;
  threads: number;
}

/** CPU time, resident memory, process and thread counts summed over `stats`. */
export function sumProcesses(stats: readonly ProcStat[]): ProcessTotals {
  const hz = clockTicksPerSecond();
  const page = pageSize();
  let utime = 0;
  let stime = 0;
  let rss = 0;
  let threads = 0;
  for (const s of stats) {
    utime += s.utimeTicks;
    stime += s.stimeTicks;
    rss += s.rssPages;
    threads += s.threads;
  }
  return { cpuUserSeconds: utime / hz, cpuSystemSeconds: stime / hz, memRssBytes: rss * page, processes: stats.length, threads };
}
