import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";

describe("ManualClock", () => {
  it("fires timers only when time is advanced past them, in due order", async () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimer(30, () => fired.push("c"));
    clock.setTimer(10, () => fired.push("a"));
    clock.setTimer(20, () => fired.push("b"));
    await clock.settle();
    assert.deepEqual(fired, []);
    await clock.advance(20);
    assert.deepEqual(fired, ["a", "b"]);
    assert.equal(clock.now(), 1020);
    await clock.advance(100);
    assert.deepEqual(fired, ["a", "b", "c"]);
    assert.equal(clock.now(), 1120);
  });

  it("runs timers set by timers within the same advance, seeing their own due time", async () => {
    const clock = new ManualClock(0);
    const seen: number[] = [];
    clock.setTimer(5, () => {
      seen.push(clock.now());
      clock.setTimer(5, () => seen.push(clock.now()));
    });
    await clock.advance(10);
    assert.deepEqual(seen, [5, 10]);
  });

  it("does not fire a cancelled timer", async () => {
    const clock = new ManualClock(0);
    let fired = false;
    const t = clock.setTimer(1, () => (fired = true));
    t.cancel();
    await clock.advance(5);
    assert.equal(fired, false);
    assert.equal(clock.pendingTimers(), 0);
  });

  it("settle fires zero-delay timers and waits for tracked work", async () => {
    const clock = new ManualClock(0);
    let pending = 3;
    clock.track({ idle: () => pending === 0 });
    const tick = (): void => {
      if (pending > 0) {
        pending--;
        setImmediate(tick);
      }
    };
    setImmediate(tick);
    let zero = false;
    clock.setTimer(0, () => (zero = true));
    await clock.settle();
    assert.equal(pending, 0);
    assert.equal(zero, true);
  });

  it("advanceUntil reports a condition that never holds", async () => {
    const clock = new ManualClock(0);
    await assert.rejects(clock.advanceUntil(() => false, 100), /within 100 ms/);
    assert.equal(clock.now(), 100);
  });
});
