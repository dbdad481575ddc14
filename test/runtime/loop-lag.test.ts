import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loopLagMs } from "../../src/runtime/loop-lag.js";

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
  });
});
