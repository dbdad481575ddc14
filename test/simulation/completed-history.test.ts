/**
 * The completed-task history survives a master failover: a task that finished (terminal
 * update acknowledged) just before the leader died is still in the new leader's /state
 * history, so a framework can reconcile it from there. Three replicated masters,
 * SimNetwork + ManualClock.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { stateResponse } from "../../src/actors/master/state-response.js";
import { SimWorld } from "./sim-world.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(13);

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe("Completed-task history across a master failover (simulated network, manual clock)", () => {
  it("a task finished and acknowledged just before the leader dies is in the new leader's completed tasks, with its terminal state", async () => {
    const w = (world = await SimWorld.start(SEED, { masters: 3, agents: 1 }));
    const old = await w.ready();
    const f = w.framework("history", 3600, true);
    await f.subscribe();
    const done = await f.launchRunning();
    const running = await f.launchRunning();
    await w.endTask(done, TaskState.FINISHED);
    await w.until(() => f.states().get(done) === TaskState.FINISHED, `${done} FINISHED at the framework`);
    await f.acknowledge();
    await w.until(() => [...old.group.master.core.completedTasks.values()].some((t) => t.taskId?.value === done), `${done} in the old leader's history`);
    // The history entry is a registry write: let it commit before the crash.
    await w.run(1_000);
    await w.c.crashMaster(old.address);
    const leader = await w.c.waitForLeader("a new leader");
    assert.notEqual(leader, old);
    const completed = [...leader.group.master.core.completedTasks.values()];
    const entry = completed.find((t) => t.taskId?.value === done);
    assert.ok(entry, `the new leader's history holds ${done} (it holds ${completed.map((t) => t.taskId?.value).join(",") || "nothing"})`);
    assert.equal(entry.state, TaskState.FINISHED);
    assert.ok(!completed.some((t) => t.taskId?.value === running), "a running task is not history");
    const state = stateResponse(leader.group.master.core, 0);
    assert.ok(state.getTasks?.completedTasks.some((t) => t.taskId?.value === done), "/state's completed tasks show it");
  });
});
