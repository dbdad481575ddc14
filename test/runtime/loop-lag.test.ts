import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LoopLateness, loopBehindMs, loopLagMs } from "../../src/runtime/loop-lag.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("loop lag", () => {
  it("shows a loop held for 400 ms, while it is held and for a while after", async () => {
    loopLagMs();
    await sleep(250);
    const blockedAt = performance.now();
    while (performance.now() - blockedAt < 400) {
      // A long synchronous turn: the meter's timer cannot fire.
    }
    assert.ok(loopLagMs() >= 250, `while held: ${loopLagMs()} ms`);
    await sleep(150);
    assert.ok(loopLagMs() >= 250, `just after: ${loopLagMs()} ms`);
    assert.ok(loopLagMs() < 60_000);
    assert.ok(loopBehindMs() >= 0 && loopBehindMs() <= loopLagMs());
  });

  it("is behind by a recorded lateness less the loop's idle time since, or by the lateness being made", () => {
    const l = new LoopLateness();
    assert.equal(l.behindMs(0, 0), 0);
    assert.equal(l.idleShare(), 1, "no sample yet");
    l.record(1, 100, 1000);
    l.record(800, 150, 2000);
    assert.equal(l.behindMs(0, 150), 800);
    assert.equal(l.behindMs(0, 450), 500, "300 ms idle since");
    assert.equal(l.behindMs(900, 450), 900, "held right now for longer");
    assert.equal(l.behindMs(0, 5000), 0);
    assert.equal(l.maxMs(0), 800, "the largest of the last samples, idle or not");
    assert.equal(l.idleShare(), 0.05, "50 ms idle in the 1,000 ms between the two samples");
    for (let i = 0; i < 19; i++) l.record(0, 5000, 3000 + 100 * i);
    assert.equal(l.maxMs(0), 800, "kept for 20 samples");
    l.record(0, 5000, 5000);
    assert.equal(l.maxMs(0), 0);
    assert.equal(l.idleShare(), 0, "no idle time over the last second");
    l.record(0, 5500, 5100);
    assert.equal(l.idleShare(), 500 / 1000, "500 ms idle from the sample at 4,100 to the one at 5,100");
  });
});
