import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { platformThreads, v8PoolSize } from "../../src/runtime/gc-threads.js";

/** The environment without UV_THREADPOOL_SIZE: Node's own layout. */
function withoutPoolSettings(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { UV_THREADPOOL_SIZE: _, ...rest } = env;
  return rest;
}

const GC_THREADS = new URL("../../src/runtime/gc-threads.js", import.meta.url).href;

describe("the garbage collector's helper threads", () => {
  it("are the platform's threads after the main one, in Node's layout only", () => {
    // main, delayed-task thread, 4 workers, signal thread, libuv's 4
    const threads = [100, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112];
    assert.deepEqual(platformThreads(threads, 100, 4, 4), [103, 104, 105, 106, 107]);
    assert.deepEqual(platformThreads(threads.slice(0, 7), 100, 4, 4), [103, 104, 105, 106, 107], "before libuv's pool started");
    assert.match(platformThreads([...threads, 120], 100, 4, 4) as string, /12 threads, not 7 or 11/, "a thread more: unknown layout");
    assert.match(platformThreads(threads, 103, 4, 4) as string, /not the main thread/);
    assert.match(platformThreads(threads, 100, 0, 4) as string, /not known/);
    assert.deepEqual(platformThreads([100, 103, 104, 107, 108, 109, 110, 111], 100, 1, 4), [103, 104], "--v8-pool-size=1");
  });

  it("reads --v8-pool-size from the command line and NODE_OPTIONS, the command line last", () => {
    assert.equal(v8PoolSize([], ""), 4);
    assert.equal(v8PoolSize([], "--max-old-space-size=8192 --v8-pool-size=2"), 2);
    assert.equal(v8PoolSize(["--v8-pool-size=1"], "--v8-pool-size=2"), 1);
  });

  it("are niced in a real process, and are the threads that do the collector's work", { skip: process.platform !== "linux" }, () => {
    // A process that nices its helpers, then makes garbage in a large old generation (major
    // collections, marked concurrently), and reports each thread's nice value and on-CPU time
    // gained meanwhile.
    const script = `
      import { readdirSync, readFileSync } from "node:fs";
      import { niceGcThreads } from ${JSON.stringify(GC_THREADS)};
      const done = niceGcThreads(10);
      const read = () => Object.fromEntries(readdirSync("/proc/self/task").map((t) => {
        const stat = readFileSync("/proc/self/task/" + t + "/stat", "utf8");
        const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
        const cpu = Number(readFileSync("/proc/self/task/" + t + "/schedstat", "utf8").split(" ")[0]);
        return [t, { nice, cpu }];
      }));
      const before = read();
      const kept = [];
      for (let round = 0; round < 40; round++) {
        for (let i = 0; i < 100000; i++) kept.push({ round, i, s: "x" + i });
        if (kept.length > 1500000) kept.splice(0, 500000);
      }
      const after = read();
      console.log(JSON.stringify({ done, main: process.pid, threads: Object.fromEntries(Object.keys(after).map((t) => [t, { nice: after[t].nice, cpuNs: after[t].cpu - (before[t]?.cpu ?? 0) }])) }));
    `;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...withoutPoolSettings(process.env), NODE_OPTIONS: "" } });
    const r = JSON.parse(out) as { done: { niced?: number[]; skipped?: string }; main: number; threads: Record<string, { nice: number; cpuNs: number }> };
    assert.ok(r.done.niced, `skipped: ${r.done.skipped}`);
    assert.equal(r.done.niced.length, 5, "the delayed-task thread and 4 workers");
    const niced = new Set(r.done.niced.map(String));
    const own = r.threads[String(r.main)]!.nice;
    for (const [tid, t] of Object.entries(r.threads)) assert.equal(t.nice, niced.has(tid) ? 10 : own, `thread ${tid}${Number(tid) === r.main ? " (main)" : ""}`);
    const helpers = Object.entries(r.threads).filter(([tid, t]) => Number(tid) !== r.main && t.cpuNs > 0);
    assert.ok(helpers.length > 0, "some helper thread worked for the collector");
    for (const [tid] of helpers) assert.ok(niced.has(tid), `thread ${tid} worked for the collector but was not niced: ${JSON.stringify(r)}`);
  });
});
