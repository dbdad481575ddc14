import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Coalescer } from "../../src/discovery/lb/coalescer.js";
import { ManualClock } from "../../src/runtime/clock.js";

describe("reloads coalesced per --reload-interval", () => {
  it("a burst of changes makes one run now and one after the interval, never two at once", async () => {
    const clock = new ManualClock();
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    let finish: (() => void) | undefined;
    const c = new Coalescer(clock, 1000, async () => {
      starts.push(clock.now());
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((r) => (finish = r));
      inFlight--;
    });
    const t0 = clock.now();
    c.request();
    await clock.advance(0);
    assert.deepEqual(starts, [t0], "the first change runs at once");
    for (let i = 0; i < 50; i++) c.request();
    await clock.advance(2000);
    assert.equal(starts.length, 1, "no second run while the first is in progress");
    finish!();
    await new Promise((r) => setImmediate(r));
    await clock.advance(0);
    assert.equal(starts.length, 2, "the 50 requests made during it are served by one run");
    finish!();
    await new Promise((r) => setImmediate(r));
    c.request();
    await clock.advance(999);
    assert.equal(starts.length, 2, "not before the interval since the last start");
    await clock.advance(1);
    assert.equal(starts.length, 3);
    assert.ok(starts[2]! - starts[1]! >= 1000);
    assert.equal(maxInFlight, 1);
    finish!();
    c.stop();
    c.request();
    await clock.advance(5000);
    assert.equal(starts.length, 3, "nothing after stop");
  });
});
