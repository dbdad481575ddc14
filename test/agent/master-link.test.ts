/**
 * MasterLink's registration attempts on the manual clock (master-link.ts): the jittered
 * backoff between attempts, and a new leader's patience (LeadingMaster.retry_after_ms)
 * added to the wait before the first retry only, so an agent the leader itself asked does
 * not send its reregistration again while the leader has yet to answer it; a lost attempt
 * is still retried, jittered, and the patience is capped by the longest backoff. Seeded
 * (the seed is printed on failure; DCOS_SEED replays one).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MasterLink } from "../../src/actors/agent/master-link.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Random } from "../../src/runtime/random.js";
import { replaySeed, seedCount } from "../support/seed.js";

const OPTIONS = { backoffMs: 1_000, maxBackoffMs: 60_000, maxMissedPings: 5, defaultPingIntervalSeconds: 15 };

function link(seed: number) {
  const clock = new ManualClock(0);
  const attempts: number[] = [];
  const lost: number[] = [];
  const ml = new MasterLink(
    {
      delay: (ms, fn) => clock.setTimer(ms, fn),
      random: new Random(seed),
      attempt: () => attempts.push(clock.now()),
      lost: (ms) => lost.push(ms),
    },
    OPTIONS,
  );
  return { clock, attempts, lost, ml };
}

function seeds(n: number): number[] {
  const one = replaySeed();
  return one !== undefined ? [one] : Array.from({ length: seedCount(n) }, (_, i) => 1 + i);
}

function each(n: number, body: (seed: number) => Promise<void>): Promise<void> {
  return seeds(n).reduce(async (prev, seed) => {
    await prev;
    try {
      await body(seed);
    } catch (err) {
      console.error(`seed ${seed} failed; replay: DCOS_SEED=${seed}`);
      throw err;
    }
  }, Promise.resolve());
}

describe("MasterLink", () => {
  it("retries unanswered attempts on a jittered backoff that doubles", () =>
    each(20, async (seed) => {
      const { clock, attempts, ml } = link(seed);
      ml.start();
      await clock.advance(4_000);
      assert.equal(attempts[0], 0);
      // 500-1000 ms, then 1000-2000 ms.
      assert.ok(attempts[1]! >= 500 && attempts[1]! <= 1_000, `second attempt at ${attempts[1]}`);
      assert.ok(attempts[2]! - attempts[1]! >= 1_000 && attempts[2]! - attempts[1]! <= 2_000, `third attempt at ${attempts[2]}`);
    }));

  it("waits a new leader's patience more before its first retry only, still jittered", () =>
    each(20, async (seed) => {
      const { clock, attempts, ml } = link(seed);
      ml.start(0, 3_000);
      await clock.advance(3_499);
      assert.deepEqual(attempts, [0], "no copy while the leader's patience runs");
      await clock.advance(501);
      assert.equal(attempts.length, 2, "the first retry comes within the patience and one backoff");
      assert.ok(attempts[1]! >= 3_500 && attempts[1]! <= 4_000, `second attempt at ${attempts[1]}`);
      await clock.advance(2_000);
      // The patience is not added again: the next retry follows the backoff alone (1000-2000 ms).
      assert.equal(attempts.length, 3);
      assert.ok(attempts[2]! - attempts[1]! >= 1_000 && attempts[2]! - attempts[1]! <= 2_000, `third attempt at ${attempts[2]}`);
    }));

  it("spreads the agents' first retries after the patience (no lockstep)", async () => {
    const firsts = new Set<number>();
    for (const seed of seeds(20)) {
      const { clock, attempts, ml } = link(seed);
      ml.start(0, 2_000);
      await clock.advance(3_000);
      firsts.add(attempts[1]!);
    }
    assert.ok(firsts.size > 1 || seeds(20).length === 1, `first retries at ${[...firsts].join(", ")}`);
  });

  it("applies the patience after a spread first attempt too, and a restart forgets it", () =>
    each(10, async (seed) => {
      const { clock, attempts, ml } = link(seed);
      ml.start(700, 2_000);
      await clock.advance(3_199);
      assert.deepEqual(attempts, [700]);
      await clock.advance(501);
      assert.equal(attempts.length, 2);
      ml.start(0, 0);
      const at = clock.now();
      await clock.advance(1_000);
      assert.equal(attempts.length, 4, "a plain restart retries on the backoff alone");
      assert.ok(attempts[3]! - at <= 1_000);
    }));

  it("caps the patience by the longest backoff: an agent never stays unregistered", () =>
    each(10, async (seed) => {
      const { clock, attempts, ml } = link(seed);
      ml.start(0, 4_000_000_000);
      await clock.advance(OPTIONS.maxBackoffMs + 1_000);
      assert.equal(attempts.length, 2, `attempts at ${attempts.join(", ")}`);
    }));

  it("postpones the retry of an attempt on its way by the leader's patience; nothing before the first attempt", () =>
    each(10, async (seed) => {
      const { clock, attempts, ml } = link(seed);
      ml.start(0);
      await clock.advance(300);
      ml.postpone(3_000);
      await clock.advance(3_000 + 499);
      assert.deepEqual(attempts, [0], "no copy within the patience from the postponement");
      await clock.advance(2_001);
      assert.equal(attempts.length, 2, `retried after the patience: ${attempts.join(", ")}`);
      const waiting = link(seed);
      waiting.ml.start(1_000);
      waiting.ml.postpone(3_000);
      await waiting.clock.advance(1_000);
      assert.deepEqual(waiting.attempts, [1_000], "the spread first attempt keeps its time");
    }));

  it("stops retrying once registered within the patience", () =>
    each(5, async (seed) => {
      const { clock, attempts, lost, ml } = link(seed);
      ml.start(0, 2_000);
      await clock.advance(1_500);
      ml.registered(1);
      await clock.advance(4_000);
      assert.deepEqual(attempts, [0]);
      assert.deepEqual(lost, []);
      await clock.advance(2_000);
      assert.deepEqual(lost, [5_000], "the watchdog runs after registration");
    }));
});
