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

  it("a periodic timer re-armed with addNext keeps its phase after a held loop; re-armed with add it joins the others for good", async () => {
    // 100 periodic timers of 1 s, due 10 ms apart; the loop is held from 1,500 to 1,900 ms,
    // so the 40 timers due in that time fire together at its end (a host whose timers wait
    // for the hold to end, as the master's do for its event loop).
    const firings = async (rearm: "addNext" | "add"): Promise<Map<number, number>> => {
      const clock = new ManualClock(0);
      let heldUntil = 0;
      const q = new TimerQueue(1000, {
        now: () => clock.now(),
        delay: (ms, fn) => clock.setTimer(ms, () => (clock.now() < heldUntil ? clock.setTimer(heldUntil - clock.now(), fn) : fn())),
      });
      const at = new Map<number, number>();
      const tick = (due: number): void => {
        if (clock.now() >= 1_900) at.set(clock.now(), (at.get(clock.now()) ?? 0) + 1);
        if (rearm === "addNext") q.addNext(due, tick);
        else q.add(tick);
      };
      for (let i = 0; i < 100; i++) {
        q.add(tick);
        await clock.advance(10);
      }
      await clock.advance(1_500 - clock.now());
      heldUntil = 1_900;
      await clock.advance(400);
      await clock.advance(2_000);
      return at;
    };
    const kept = await firings("addNext");
    // At the hold's end the 40 late ones fire together; in every period after it, one at a time again.
    assert.equal(kept.get(1_900), 40);
    assert.equal(Math.max(...[...kept].filter(([t]) => t > 1_900).map(([, n]) => n)), 1);
    assert.equal(kept.get(2_500), 1, "the timer due at 1,500 fires at 2,500 again, not at 2,900");
    const merged = await firings("add");
    assert.equal(merged.get(1_900), 40);
    assert.equal(merged.get(2_900), 40, "re-armed from the late firing, the 40 stay together");
    assert.equal(merged.get(3_900), 40);
  });

  it("addNext: more than half a delay late counts from now, as add; never queued before an earlier timer", async () => {
    const { clock, q, fired } = queue(1000);
    await clock.advance(5_000);
    // Due at 4,700 (300 ms late): the next at 5,700, on its phase.
    q.addNext(4_700, (due) => fired.push(`a@${clock.now()} due ${due}`));
    // Due at 250 (4,750 ms late): one delay from now, 6,000.
    q.addNext(250, (due) => fired.push(`b@${clock.now()} due ${due}`));
    q.add(() => fired.push(`c@${clock.now()}`));
    // Due at 5,900 by its phase, queued after timers due at 6,000: it fires with them.
    q.addNext(4_900, (due) => fired.push(`d@${clock.now()} due ${due}`));
    await clock.advance(2_000);
    assert.deepEqual(fired, ["a@5700 due 5700", "b@6000 due 6000", "c@6000", "d@6000 due 6000"]);
  });
});
