/** The one backoff (runtime/backoff.ts): ceilings, equal jitter from a seeded source, replay. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Backoff } from "../../src/runtime/backoff.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(7);

describe("Backoff", () => {
  it("without jitter: doubles from the initial delay up to the cap, and starts over after a reset", () => {
    const b = new Backoff({ initialMs: 10, maxMs: 100, jitter: "none" }, undefined);
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [10, 20, 40, 80, 100, 100]);
    assert.equal(b.attempts, 6);
    b.reset();
    assert.equal(b.next(), 10);
  });

  it("grows by the factor up to the cap, each delay between half and all of its ceiling", () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 1000 }, new Random(SEED));
    const ceilings = [100, 200, 400, 800, 1000, 1000];
    const delays = ceilings.map(() => backoff.next());
    for (const [i, ceiling] of ceilings.entries()) {
      assert.ok(delays[i]! >= ceiling / 2 && delays[i]! <= ceiling, `attempt ${i}: ${delays[i]} not in [${ceiling / 2}, ${ceiling}] (seed ${SEED})`);
    }
    assert.ok(new Set(delays.slice(0, 4).map((d, i) => d / ceilings[i]!)).size > 1, `the jitter varies the delays (seed ${SEED}): ${delays}`);
    const tripled = new Backoff({ initialMs: 10, maxMs: 1000, factor: 3, jitter: "none" }, undefined);
    assert.deepEqual([tripled.next(), tripled.next(), tripled.next()], [10, 30, 90]);
  });

  it("replays the same delays from the same seed", () => {
    const run = (): number[] => {
      const b = new Backoff({ initialMs: 50, maxMs: 5000 }, new Random(SEED));
      return [b.next(), b.next(), b.next(), b.next()];
    };
    assert.deepEqual(run(), run());
  });

  it("refuses a cap below the first delay, a shrinking factor, and jitter without a seeded source", () => {
    assert.throws(() => new Backoff({ initialMs: 10, maxMs: 5 }, new Random(1)), RangeError);
    assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50, factor: 0.5 }, new Random(1)), RangeError);
    assert.throws(() => new Backoff({ initialMs: 10, maxMs: 50 }, undefined), /needs a Random/);
  });
});
