import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { ResourceHistory, type ResourceSample } from "../../src/ui/resource-history.js";

type Reading = Omit<ResourceSample, "time">;

function reading(cpusUsed: number): Reading {
  return { cpusTotal: 8, cpusUsed, memTotal: 1024, memUsed: 0, diskTotal: 0, diskUsed: 0, tasksRunning: cpusUsed, agents: 2 };
}

describe("resource history", () => {
  it("samples once at start and then once per interval, stamped with the clock's time", async () => {
    const clock = new ManualClock(1_000_000);
    let cpus = 0;
    const h = new ResourceHistory({ clock, intervalMs: 10_000, windowMs: 60_000, sample: async () => reading(cpus++) });
    h.start();
    await clock.settle();
    assert.deepEqual(h.values().map((s) => [s.time, s.cpusUsed]), [[1_000_000, 0]]);
    await clock.advance(25_000);
    assert.deepEqual(h.values().map((s) => [s.time, s.cpusUsed]), [
      [1_000_000, 0],
      [1_010_000, 1],
      [1_020_000, 2],
    ]);
    h.stop();
    await clock.advance(60_000);
    assert.equal(h.values().length, 3, "no sample after stop");
    assert.equal(clock.pendingTimers(), 0);
  });

  it("keeps only the window: the oldest samples drop out as new ones come", async () => {
    const clock = new ManualClock(0);
    const h = new ResourceHistory({ clock, intervalMs: 10_000, windowMs: 30_000, sample: async () => reading(1) });
    h.start();
    await clock.advance(100_000);
    assert.deepEqual(h.values().map((s) => s.time), [70_000, 80_000, 90_000, 100_000]);
    h.stop();
  });

  it("skips a sample the master could not give and goes on with the next", async () => {
    const clock = new ManualClock(0);
    let n = 0;
    const h = new ResourceHistory({
      clock,
      intervalMs: 1_000,
      sample: async () => {
        if (++n === 2) throw new Error("master busy");
        return reading(n);
      },
    });
    h.start();
    await clock.advance(2_000);
    assert.deepEqual(h.values().map((s) => [s.time, s.cpusUsed]), [
      [0, 1],
      [2_000, 3],
    ]);
    h.stop();
  });

  it("refuses an interval that is not positive or longer than the window", () => {
    const clock = new ManualClock(0);
    const sample = async (): Promise<Reading> => reading(0);
    assert.throws(() => new ResourceHistory({ clock, sample, intervalMs: 0 }), /0 < interval \(0 ms\)/);
    assert.throws(() => new ResourceHistory({ clock, sample, intervalMs: 20_000, windowMs: 10_000 }), /≤ window \(10000 ms\)/);
  });
});
