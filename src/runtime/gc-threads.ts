/**
 * The garbage collector's helper threads at a lower CPU priority than the event loop.
 *
 * V8 marks a large old generation concurrently, on Node's platform worker threads (4 unless
 * `--v8-pool-size` says otherwise). On a host with fewer cores than runnable threads, those
 * helpers and the main thread share the CPU as equals: at 50,000 agents the leader's main
 * thread had 16-20% of a core for ~2 s at the end of each major collection's marking while
 * the helpers had 70-100%, and its event loop was held for that long (docs/scale.md,
 * "Session 12"). With the helpers niced, the main thread runs first and the helpers use what
 * it leaves; marking the helpers cannot do is done by the main thread's incremental steps.
 *
 * Node names none of its threads, so they are told apart by the order Node starts them in,
 * before any JavaScript runs: the main thread, the platform's delayed-task thread, the
 * platform's workers, the signal-handling thread, then the libuv pool (4, or
 * UV_THREADPOOL_SIZE; started by the ES module loader, and where the write-ahead log writes).
 * Only the platform's threads are niced; when the process's threads are not laid out so
 * (another runtime, threads started earlier), nothing is changed and the reason is returned.
 * Linux only: elsewhere a nice value belongs to the process, and nothing is done.
 */
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";

/** What was done: the threads niced, or why none was. */
export type GcThreadsNiced = { niced: number[] } | { skipped: string };

/** The V8 platform's worker count Node was started with (`--v8-pool-size`, default 4; 0 = unknown). */
export function v8PoolSize(execArgv: readonly string[] = process.execArgv, nodeOptions: string = process.env.NODE_OPTIONS ?? ""): number {
  let size = 4;
  for (const arg of [...nodeOptions.split(/\s+/), ...execArgv]) {
    const m = /^--v8-pool-size=(\d+)$/.exec(arg);
    if (m) size = Number(m[1]);
  }
  return size;
}

/** The process's threads, oldest first (thread ids grow with creation; ties broken by id). */
export function processThreads(taskDir = "/proc/self/task"): number[] {
  const rows = readdirSync(taskDir).map((tid) => {
    const stat = readFileSync(`${taskDir}/${tid}/stat`, "utf8");
    // Field 22 (start time); the fields after the command name's ")" start at field 3.
    const start = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    return { tid: Number(tid), start };
  });
  return rows.sort((a, b) => a.start - b.start || a.tid - b.tid).map((r) => r.tid);
}

/**
 * Which of `threads` (oldest first, the main thread first) are the V8 platform's: the
 * delayed-task thread and `poolSize` workers after the main thread, when the count matches
 * Node's layout (main, platform, signal thread, libuv pool) exactly or without the pool.
 */
export function platformThreads(threads: readonly number[], mainTid: number, poolSize: number, uvPoolSize: number): number[] | string {
  if (poolSize <= 0) return "--v8-pool-size=0: the platform's size is not known";
  if (threads[0] !== mainTid) return `the oldest thread (${threads[0]}) is not the main thread (${mainTid})`;
  const platform = 1 + poolSize;
  const expected = [1 + platform + 1, 1 + platform + 1 + uvPoolSize];
  if (!expected.includes(threads.length)) return `${threads.length} threads, not ${expected.join(" or ")} (main, ${platform} of the platform, the signal thread, ${uvPoolSize} of libuv's pool)`;
  return threads.slice(1, 1 + platform);
}

/** Nices the V8 platform's threads of this process by `nice` (1-19); see the module's comment. */
export function niceGcThreads(nice: number): GcThreadsNiced {
  if (process.platform !== "linux") return { skipped: `a nice value is the process's on ${process.platform}` };
  let threads: number[];
  try {
    threads = processThreads();
  } catch (err) {
    return { skipped: `no /proc/self/task: ${(err as Error).message}` };
  }
  const uv = process.env.UV_THREADPOOL_SIZE;
  // libuv's own reading: atoi, within [1, 1024].
  const uvPoolSize = uv === undefined ? 4 : Math.min(1024, Math.max(1, Number.parseInt(uv, 10) || 0));
  const platform = platformThreads(threads, process.pid, v8PoolSize(), uvPoolSize);
  if (typeof platform === "string") return { skipped: platform };
  const niced: number[] = [];
  for (const tid of platform) {
    try {
      setPriority(tid, nice);
      niced.push(tid);
    } catch (err) {
      return { skipped: `thread ${tid}: ${(err as Error).message}` };
    }
  }
  return { niced };
}
