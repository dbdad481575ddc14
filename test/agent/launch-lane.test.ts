/**
 * The launch lane (src/actors/agent/launch-lane.ts) on its own: containers' ends wait while
 * launches are under way, in order, at most maxWaitMs; a lane of 0 ms is off. Timers are a
 * fake list the test fires, so every case is deterministic. The agent with it:
 * direct-tasks.test.ts ("a container's end waits behind a launch under way…").
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LaunchLane } from "../../src/actors/agent/launch-lane.js";
import type { Timer } from "../../src/runtime/clock.js";

function fakeTimers(): { delay: (ms: number, fn: () => void) => Timer; due: { ms: number; fn: () => void; cancelled: boolean }[] } {
  const due: { ms: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    due,
    delay: (ms, fn) => {
      const t = { ms, fn, cancelled: false };
      due.push(t);
      return { cancel: () => (t.cancelled = true) };
    },
  };
}

describe("launch lane", () => {
  it("runs an end at once when no launch is under way", () => {
    const t = fakeTimers();
    const lane = new LaunchLane(t.delay, 100);
    const log: string[] = [];
    lane.afterLaunches(() => log.push("end a"));
    assert.deepEqual(log, ["end a"]);
    assert.equal(t.due.length, 0, "no timer");
  });

  it("holds ends while launches are under way and runs them in order once the last one settled", () => {
    const t = fakeTimers();
    const lane = new LaunchLane(t.delay, 100);
    const log: string[] = [];
    lane.begin("c1");
    lane.begin("c2");
    lane.afterLaunches(() => log.push("end a"));
    lane.afterLaunches(() => log.push("end b"));
    assert.deepEqual(log, []);
    assert.deepEqual([lane.launches, lane.ends], [2, 2]);
    lane.settle("c1");
    assert.deepEqual(log, [], "c2 is still launching");
    lane.settle("c1");
    assert.deepEqual(log, [], "settling twice does not count twice");
    lane.settle("c2");
    assert.deepEqual(log, ["end a", "end b"]);
    assert.deepEqual([lane.launches, lane.ends], [0, 0]);
    assert.equal(t.due[0]!.cancelled, true, "the timer is cancelled");
  });

  it("never holds an end longer than maxWaitMs, counted from the first that waited", () => {
    const t = fakeTimers();
    const lane = new LaunchLane(t.delay, 100);
    const log: string[] = [];
    lane.begin("c1");
    lane.afterLaunches(() => log.push("end a"));
    lane.afterLaunches(() => log.push("end b"));
    assert.equal(t.due.length, 1, "one timer for the batch");
    assert.equal(t.due[0]!.ms, 100);
    t.due[0]!.fn();
    assert.deepEqual(log, ["end a", "end b"], "released by the timer while c1 still launches");
    lane.afterLaunches(() => log.push("end c"));
    assert.deepEqual(log, ["end a", "end b"], "a later end waits again");
    assert.equal(t.due.length, 2, "with a new timer");
    lane.settle("c1");
    assert.deepEqual(log, ["end a", "end b", "end c"]);
  });

  it("keeps the order of ends: one that comes after launches finished still runs after those waiting", () => {
    const t = fakeTimers();
    const lane = new LaunchLane(t.delay, 100);
    const log: string[] = [];
    lane.begin("c1");
    lane.afterLaunches(() => {
      log.push("end a");
      lane.afterLaunches(() => log.push("end from a"));
    });
    lane.settle("c1");
    assert.deepEqual(log, ["end a", "end from a"]);
  });

  it("is off with a maximum wait of 0: ends run at once", () => {
    const t = fakeTimers();
    const lane = new LaunchLane(t.delay, 0);
    const log: string[] = [];
    lane.begin("c1");
    lane.afterLaunches(() => log.push("end a"));
    assert.deepEqual(log, ["end a"]);
    assert.equal(lane.launches, 0);
    assert.equal(t.due.length, 0);
  });
});
