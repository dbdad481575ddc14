import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaderSilence, SILENCE_WINDOW_MS } from "../../src/raft/leader-silence.js";

describe("A follower's longest silence of its leader", () => {
  it("is the longest gap between the leader's messages, over the last one or two windows", () => {
    const s = new LeaderSilence();
    s.heard("L", "L", 1_000);
    s.heard("L", "L", 1_300);
    s.heard("other", "L", 1_500); // another member's message is not the leader's
    s.heard("L", "L", 3_800);
    s.heard("L", "L", 4_100);
    assert.equal(s.maxMs(4_200), 2_500);
    // The next window still shows it; the one after no longer does.
    s.heard("L", "L", SILENCE_WINDOW_MS + 100);
    s.heard("L", "L", SILENCE_WINDOW_MS + 400);
    assert.equal(s.maxMs(SILENCE_WINDOW_MS + 500), SILENCE_WINDOW_MS + 100 - 4_100, "the gap that crossed into this window");
    s.heard("L", "L", 2 * SILENCE_WINDOW_MS + 600);
    s.heard("L", "L", 2 * SILENCE_WINDOW_MS + 900);
    assert.ok(s.maxMs(2 * SILENCE_WINDOW_MS + 1_000) >= 300);
    assert.equal(s.maxMs(5 * SILENCE_WINDOW_MS), 0, "windows without messages have no gaps");
  });

  it("starts afresh with a new leader, and counts nothing without one", () => {
    const s = new LeaderSilence();
    s.heard("A", "", 100);
    s.heard("A", "A", 1_000);
    s.heard("B", "B", 9_000); // a new leader: the time since A's last message is not B's silence
    s.heard("B", "B", 9_200);
    assert.equal(s.maxMs(9_300), 200);
  });
});
