/** TimerQueue (runtime/timer-queue.ts): many timers of one delay on one clock timer. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ManualClock } from "../../src/runtime/clock.js";
import { TimerQueue } from "../../src/runtime/timer-queue.js";

function queue(delayMs: number): { clock: ManualClock; q: TimerQueue; fired: string[] } {
  const clock = new ManualClock(0);
  return { clock, q: new TimerQueue(delayMs, { now: () => clock.now(), delay: (ms, fn) => clock.setTimer(ms, fn) }), fired: [] };
}

describe("TimerQueue", () => {
  it("fires each timer exactly one delay after it was set, in order, on one clock timer", async () => {
    const { clock, q, fired } = queue(1000);
    const firedAt: Record<string, number> = {};
    for (const [name, at] of [["a", 0], ["b", 250], ["c", 250], ["d", 900]] as const) {
      await clock.advance(at - clock.now());
      q.add(() => {
        fired.push(name);
        firedAt[name] = clock.now();
      });
    }
    assert.equal(clock.pendingTimers(), 1, "one clock timer for four queued timers");
    assert.equal(q.size, 4);
    await clock.advance(999 - clock.now());
    assert.deepEqual(fired, []);
    await clock.advance(1);
    assert.deepEqual(fired, ["a"]);
    await clock.advance(1000);
    assert.deepEqual(fired, ["a", "b", "c", "d"]);
    assert.deepEqual(firedAt, { a: 1000, b: 1250, c: 1250, d: 1900 });
    assert.equal(q.size, 0);
    assert.equal(clock.pendingTimers(), 0, "nothing armed once empty");
  });

  it("a cancelled timer never fires; cancelling the last one disarms the clock timer", async () => {
    const { clock, q, fired } = queue(100);
    const a = q.add(() => fired.push("a"));
    await clock.advance(10);
    q.add(() => fired.push("b"));
    a.cancel();
    a.cancel();
    assert.equal(q.size, 1);
    await clock.advance(200);
    assert.deepEqual(fired, ["b"]);
    const c = q.add(() => fired.push("c"));
    c.cancel();
    assert.equal(clock.pendingTimers(), 0);
    await clock.advance(200);
    assert.deepEqual(fired, ["b"]);
  });

  it("a timer set by a firing callback waits a whole delay, behind the ones set before it", async () => {
    const { clock, q, fired } = queue(100);
    const again = (name: string, times: number) => {
      fired.push(`${name}@${clock.now()}`);
      if (times > 1) q.add(() => again(name, times - 1));
    };
    q.add(() => again("x", 3));
    await clock.advance(50);
    q.add(() => fired.push(`y@${clock.now()}`));
    await clock.advance(400);
    assert.deepEqual(fired, ["x@100", "y@150", "x@200", "x@300"]);
  });

  it("a callback that throws leaves the later timers queued and armed", async () => {
    const { clock, q, fired } = queue(100);
    q.add(() => {
      throw new Error("boom");
    });
    await clock.advance(10);
    q.add(() => fired.push("after"));
    await assert.rejects(clock.advance(100), /boom/);
    await clock.advance(100);
    assert.deepEqual(fired, ["after"]);
  });

  it("keeps 100,000 timers on one clock timer and fires each once", async () => {
    const { clock, q } = queue(15_000);
    let count = 0;
    const timers = Array.from({ length: 100_000 }, () => q.add(() => count++));
    for (let i = 0; i < timers.length; i += 2) timers[i]!.cancel();
    assert.equal(clock.pendingTimers(), 1);
    await clock.advance(15_000);
    assert.equal(count, 50_000);
  });
});
