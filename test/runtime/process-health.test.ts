import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { GcPauses, watchProcessHealth } from "../../src/runtime/process-health.js";

describe("process health gauges", () => {
  it("keep the longest GC pause of the last one or two windows, and every pause in the total", () => {
    const p = new GcPauses();
    p.add(5, false);
    p.add(40, true);
    p.add(12, false);
    assert.deepEqual([p.maxMs, p.majorMaxMs, p.totalMs, p.majorCount], [40, 40, 57, 1]);
    p.roll();
    p.add(8, false);
    assert.deepEqual([p.maxMs, p.majorMaxMs], [40, 40], "the previous window still counts");
    p.roll();
    assert.deepEqual([p.maxMs, p.majorMaxMs, p.totalMs, p.majorCount], [8, 0, 65, 1], "two windows later only the newer pauses count");
  });

  it("report the process's memory split: a big buffer shows outside the heap", async () => {
    const metrics = new Metrics();
    watchProcessHealth(metrics);
    // Buffers show outside the heap.
    const held = Buffer.alloc(32 * 2 ** 20, 1);
    const gc = (globalThis as { gc?: () => void }).gc;
    let garbage: unknown[] = [];
    for (let i = 0; i < 200_000; i++) garbage.push({ i, s: `x${i}` });
    garbage = [];
    gc?.();
    await new Promise((r) => setTimeout(r, 50)); // GC entries are delivered asynchronously
    const m = metrics.snapshot();
    assert.ok(m["runtime/heap_used_mb"]! > 0 && m["runtime/heap_used_mb"]! <= m["runtime/heap_total_mb"]!, `heap ${m["runtime/heap_used_mb"]}/${m["runtime/heap_total_mb"]}`);
    assert.ok(m["runtime/array_buffers_mb"]! >= 32, `the 32 MiB buffer counts: ${m["runtime/array_buffers_mb"]}`);
    assert.ok(m["runtime/external_mb"]! >= m["runtime/array_buffers_mb"]!, "external includes the buffers");
    assert.ok(m["runtime/rss_mb"]! >= 32);
    assert.ok(m["runtime/gc_ms_total"]! >= 0 && m["runtime/gc_pause_max_ms"]! >= 0);
    assert.ok(held.length > 0 && garbage.length === 0);
  });
});
