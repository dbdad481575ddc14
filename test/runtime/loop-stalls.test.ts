import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { gcInside, stallCause, watchLoopStalls, type LoopStall } from "../../src/runtime/loop-stalls.js";
import type { Logger } from "../../src/runtime/log.js";

describe("loop stalls", () => {
  it("count the part of each GC pause that falls inside the stall, majors apart", () => {
    const pauses = [
      { start: 0, duration: 50, major: false }, // before
      { start: 90, duration: 20, major: false }, // 10 inside
      { start: 200, duration: 700, major: true }, // all inside
      { start: 950, duration: 100, major: false }, // 50 inside
      { start: 1200, duration: 30, major: true }, // after
    ];
    assert.deepEqual(gcInside(pauses, 100, 1000), { ms: 760, majorMs: 700, longestMs: 700 });
    assert.deepEqual(gcInside([], 0, 10), { ms: 0, majorMs: 0, longestMs: 0 });
  });

  it("name the cause: the collector, a long turn, or a process the host did not run", () => {
    const s = (heldMs: number, gcMs: number, cpuMs: number): LoopStall => ({ from: 0, to: heldMs, heldMs, gcMs, gcMajorMs: gcMs, gcLongestMs: gcMs, cpuMs });
    assert.equal(stallCause(s(3000, 2000, 2100)), "garbage collection");
    assert.equal(stallCause(s(3000, 200, 2600)), "a long turn");
    assert.equal(stallCause(s(3000, 200, 300)), "not run by the host");
  });

  it("tell a main thread that waited for a CPU from a long turn, by its own time", () => {
    // Session 12's stalls: the process busy (its GC helpers), its main thread mostly waiting.
    const s = (mainCpuMs: number, mainWaitMs: number): LoopStall => ({ from: 0, to: 2500, heldMs: 2500, gcMs: 80, gcMajorMs: 80, gcLongestMs: 80, cpuMs: 2240, mainCpuMs, mainWaitMs });
    assert.equal(stallCause(s(435, 2146)), "the main thread waited for a CPU");
    assert.equal(stallCause(s(2300, 150)), "a long turn");
    assert.equal(stallCause(s(300, 400)), "not run by the host", "neither running nor runnable: stopped");
  });

  it("log and count a loop held by a long synchronous turn", async () => {
    const metrics = new Metrics();
    const lines: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => void lines.push(msg) } as unknown as Logger;
    watchLoopStalls(metrics, log, 500);
    const until = performance.now() + 1_200;
    while (performance.now() < until) {
      // the loop held, as by a long handler
    }
    const deadline = Date.now() + 30_000;
    while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(lines.length >= 1, "the stall was logged");
    assert.match(lines[0]!, /^Event loop held \d+ ms: GC \d+ ms of it .*CPU \d+ ms( \(main thread \d+ ms, waiting for a CPU \d+ ms\))?; (a long turn|the main thread waited for a CPU|not run by the host|garbage collection)$/);
    if (process.platform === "linux") assert.match(lines[0]!, /main thread \d+ ms, waiting for a CPU/, "the main thread's own time, from /proc");
    const m = metrics.snapshot();
    assert.equal(m["runtime/loop_stalls"], lines.length, "each logged stall is counted");
    assert.ok(m["runtime/loop_stall_ms"]! > 0);
  });
});
