/**
 * RefusalRetry (src/actors/scheduler-driver/refusal-retry.ts): a call the master refuses as
 * busy (RESOURCE_EXHAUSTED + retry-after) is made again after jittered, growing waits, on
 * the ManualClock, reproducible from the seed.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RefusalRetry } from "../../src/actors/scheduler-driver/refusal-retry.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Random } from "../../src/runtime/random.js";

const busy = (ms: number) => new DcosError(Code.RESOURCE_EXHAUSTED, "busy", { details: { "retry-after-ms": String(ms) } });

/** A call refused `refusals` times, then answered; the clock times of its attempts. */
function flaky(clock: ManualClock, refusals: number, error = busy(1000)): { call: () => Promise<string>; at: number[] } {
  const at: number[] = [];
  return {
    at,
    call: () => {
      at.push(clock.now());
      return at.length <= refusals ? Promise.reject(error) : Promise.resolve("done");
    },
  };
}

async function runToEnd<T>(clock: ManualClock, p: Promise<T>): Promise<T> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await clock.advanceUntil(() => settled, 600_000, 50);
  return p;
}

function gaps(at: number[]): number[] {
  return at.slice(1).map((t, i) => t - at[i]!);
}

describe("RefusalRetry", () => {
  it("waits at least the retry-after, in growing jittered ceilings, until the call is taken", async () => {
    const seed = 7;
    const clock = new ManualClock();
    const retry = new RefusalRetry(clock, new Random(seed), { maxMs: 10_000 });
    const f = flaky(clock, 4);
    assert.equal(await runToEnd(clock, retry.run(f.call)), "done");
    assert.equal(f.at.length, 5);
    assert.equal(retry.retried, 4);
    const g = gaps(f.at);
    // Ceilings 2, 4, 8, 10 s (capped); each wait in [ceiling/2, ceiling] and >= the retry-after.
    for (const [i, ceiling] of [2000, 4000, 8000, 10_000].entries()) {
      assert.ok(g[i]! >= Math.max(1000, ceiling / 2) && g[i]! <= ceiling + 50, `seed ${seed}: wait ${i + 1} was ${g[i]} ms (ceiling ${ceiling})`);
    }
    // The same seed replays the same waits.
    const clock2 = new ManualClock();
    const f2 = flaky(clock2, 4);
    await runToEnd(clock2, new RefusalRetry(clock2, new Random(seed), { maxMs: 10_000 }).run(f2.call));
    assert.deepEqual(gaps(f2.at), g);
  });

  it("spreads 100 frameworks refused in the same instant over the retry window", async () => {
    const clock = new ManualClock();
    const firstRetries: number[] = [];
    const runs = Array.from({ length: 100 }, (_, i) => {
      const f = flaky(clock, 1);
      return new RefusalRetry(clock, new Random(1000 + i)).run(f.call).then(() => firstRetries.push(f.at[1]! - f.at[0]!));
    });
    await runToEnd(clock, Promise.all(runs));
    assert.equal(firstRetries.length, 100);
    assert.ok(Math.min(...firstRetries) >= 1000 && Math.max(...firstRetries) <= 2050, `waits ${Math.min(...firstRetries)}..${Math.max(...firstRetries)} ms`);
    const halves = [firstRetries.filter((w) => w < 1500).length, firstRetries.filter((w) => w >= 1500).length];
    assert.ok(halves[0]! >= 25 && halves[1]! >= 25, `both halves of the window get retries: ${halves.join(" / ")}`);
  });

  it("waits at least each refusal's own retry-after: a short first one, a longer later one", async () => {
    const clock = new ManualClock();
    const at: number[] = [];
    const afters = [100, 100, 3000];
    const call = () => {
      at.push(clock.now());
      const after = afters[at.length - 1];
      return after === undefined ? Promise.resolve("done") : Promise.reject(busy(after));
    };
    assert.equal(await runToEnd(clock, new RefusalRetry(clock, new Random(3)).run(call)), "done");
    const g = gaps(at);
    assert.ok(g[0]! >= 100 && g[0]! <= 250, `first wait ${g[0]} ms: in [100, 200] (ceiling 2 x 100 ms)`);
    assert.ok(g[1]! >= 200 && g[1]! <= 450, `second wait ${g[1]} ms: in [200, 400]`);
    assert.ok(g[2]! >= 3000, `third wait ${g[2]} ms: at least the 3,000 ms the master asked for`);
  });

  it("settles at once on any other failure or a refusal without a retry-after, and gives up after max attempts", async () => {
    const clock = new ManualClock();
    const retry = new RefusalRetry(clock, new Random(1), { maxAttempts: 3 });
    for (const error of [new DcosError(Code.DEADLINE_EXCEEDED, "late"), new DcosError(Code.RESOURCE_EXHAUSTED, "too big"), new DcosError(Code.UNAVAILABLE, "no leader")]) {
      const f = flaky(clock, 1, error);
      await assert.rejects(retry.run(f.call), (err) => err === error);
      assert.equal(f.at.length, 1, `${error.message}: not retried`);
    }
    const f = flaky(clock, 10);
    await assert.rejects(runToEnd(clock, retry.run(f.call)), (err) => DcosError.is(err, Code.RESOURCE_EXHAUSTED));
    assert.equal(f.at.length, 3);
  });
});
