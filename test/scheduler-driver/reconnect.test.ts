import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ReconnectDelays } from "../../src/actors/scheduler-driver/reconnect.js";
import { Random } from "../../src/runtime/random.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(11);
const BACKOFF = { initialMs: 500, maxMs: 4000 };
const PROMPT = { windowMs: 2000, maxDelayMs: 200 };

describe("ReconnectDelays", () => {
  it("retries at once after a loss, then with short jittered delays while the prompt window lasts", () => {
    const delays = new ReconnectDelays(BACKOFF, PROMPT, new Random(SEED));
    let now = 10_000;
    assert.equal(delays.next(now), 0, "the first retry waits for nothing");
    const seen = new Set<number>();
    while (now - 10_000 < PROMPT.windowMs - PROMPT.maxDelayMs) {
      const d = delays.next(now);
      assert.ok(d >= 50 && d <= 200, `prompt delay ${d} not in [50, 200] (seed ${SEED})`);
      seen.add(d);
      now += d;
    }
    assert.ok(seen.size > 1, `prompt delays are jittered (seed ${SEED})`);
  });

  it("falls back to the capped exponential backoff once the window is over", () => {
    const delays = new ReconnectDelays(BACKOFF, PROMPT, new Random(SEED));
    delays.next(0);
    const ceilings = [500, 1000, 2000, 4000, 4000];
    let now = PROMPT.windowMs;
    for (const [i, ceiling] of ceilings.entries()) {
      const d = delays.next(now);
      assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${i} after the window: ${d} not in [${ceiling / 2}, ${ceiling}] (seed ${SEED})`);
      now += d;
    }
    assert.equal(delays.attempts, 6);
  });

  it("starts a new prompt window after a success", () => {
    const delays = new ReconnectDelays(BACKOFF, PROMPT, new Random(SEED));
    delays.next(0);
    assert.ok(delays.next(5000) >= 250, "backoff after the window");
    delays.reset();
    assert.equal(delays.attempts, 0);
    assert.equal(delays.next(60_000), 0);
    assert.ok(delays.next(60_001) <= PROMPT.maxDelayMs);
  });

  it("starts a new prompt window, jittered, when a new leader is announced after the window, not within it", () => {
    const delays = new ReconnectDelays(BACKOFF, PROMPT, new Random(SEED));
    delays.next(0);
    assert.equal(delays.newLeader(1000), false, "within the window: nothing to restart");
    let now = PROMPT.windowMs;
    for (let i = 0; i < 4; i++) now += delays.next(now); // into the backoff: 500, 1000, 2000, 4000 ceilings
    assert.equal(delays.newLeader(now), true);
    const seen = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const d = delays.next(now);
      assert.ok(d >= 50 && d <= 200, `after the announcement: ${d} not a prompt delay in [50, 200] (seed ${SEED})`);
      seen.add(d);
      now += d;
    }
    assert.ok(seen.size > 1, `jittered (seed ${SEED})`);
    const after = delays.next(now + PROMPT.windowMs);
    assert.ok(after >= 250 && after <= 500, `the new window over: the backoff from its start (${after}, seed ${SEED})`);
  });

  it("with a zero window uses only the backoff", () => {
    const delays = new ReconnectDelays(BACKOFF, { windowMs: 0, maxDelayMs: 100 }, new Random(SEED));
    const d = delays.next(0);
    assert.ok(d >= 250 && d <= 500, `${d}`);
  });

  it("refuses a negative window or a zero prompt delay", () => {
    assert.throws(() => new ReconnectDelays(BACKOFF, { windowMs: -1, maxDelayMs: 100 }, new Random(1)), RangeError);
    assert.throws(() => new ReconnectDelays(BACKOFF, { windowMs: 100, maxDelayMs: 0 }, new Random(1)), RangeError);
  });
});
