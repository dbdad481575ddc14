import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "../../src/metrics/metrics.js";
import { watchEventLoopDelay } from "../../src/runtime/event-loop-delay.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("event-loop delay gauges", () => {
  it("show a stall of the event loop: the longest delay covers a 300 ms synchronous block", async () => {
    const metrics = new Metrics();
    watchEventLoopDelay(metrics);
    await sleep(60);
    const blockedAt = performance.now();
    while (performance.now() - blockedAt < 300) {
      // A long synchronous handler: nothing else runs meanwhile.
    }
    await sleep(60);
    const snapshot = metrics.snapshot();
    const max = snapshot["runtime/event_loop_delay_max_ms"]!;
    assert.ok(max >= 250, `the longest delay ${max} ms covers the 300 ms block`);
    assert.ok(snapshot["runtime/event_loop_delay_p99_ms"]! > 0, "a percentile too");
    assert.ok(max < 60_000, `in milliseconds: ${max}`);
  });
});
