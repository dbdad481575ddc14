/**
 * The agent's disk work is a work source of its clock: on a ManualClock, settle() returns
 * only after recovery reads and checkpoint writes are done, so simulations replay the same
 * way however slow the disk is (found making the fault simulation's replays exact).
 */
import assert from "node:assert/strict";
import { readAgentId } from "../../src/actors/agent/checkpoint.js";
import { DiskActivity } from "../../src/actors/agent/disk-activity.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { NodeFileSystem } from "../../src/runtime/file-system.js";
import { afterEach, describe, it } from "node:test";
import { admit, startHarness, type Harness } from "./harness.js";

let x: Harness | undefined;
afterEach(async () => {
  await x?.stop();
  x = undefined;
});

describe("agent disk activity on a manual clock", () => {
  it("settle() waits for tracked work that completes outside the clock, and not after detach", async () => {
    const clock = new ManualClock();
    const disk = new DiskActivity();
    disk.attach(clock);
    let done = false;
    const slow = disk.track(new Promise<void>((resolve) => setTimeout(() => ((done = true), resolve()), 30)));
    assert.equal(disk.idle(), false);
    await clock.settle();
    assert.ok(done, "settle returned only once the tracked work completed");
    assert.equal(disk.idle(), true);
    await slow;

    disk.detach();
    let late = false;
    disk.track(new Promise<void>((resolve) => setTimeout(() => ((late = true), resolve()), 30)));
    await clock.settle();
    assert.equal(late, false, "a detached activity does not hold the clock");
  });

  it("one settle() covers the agent's recovery (it registers) and the agent id checkpoint after registration", async () => {
    x = await startHarness();
    await x.clock.settle();
    assert.equal(x.master.of("RegisterAgent").length, 1, "recovery read the work dir and the agent registered within one settle");
    await admit(x);
    await x.clock.settle();
    assert.equal(await readAgentId(new NodeFileSystem(), x.workDir), "agent-1", "the agent id is on disk when settle returns");
  });
});
