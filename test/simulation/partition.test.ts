/**
 * Named after Mesos's PartitionTest and FaultToleranceTest's scheduler failover cases,
 * deterministic: the real master (a one-node group), real agents with fake containerizers,
 * schedulers through the master's facade; SimNetwork + ManualClock. FT_SEED replays another seed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { SimWorld } from "./sim-world.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(31);
const A1 = "a1:5051";
/** Past the master's ping window (15 s × 5 missed pings by default) with room to spare. */
const PING_WINDOW_MS = 100_000;

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

async function start(seed: number, agents = 1): Promise<SimWorld> {
  const w = (world = await SimWorld.start(seed, { masters: 1, agents }));
  await w.ready();
  return w;
}

const stateName = (s: TaskState | undefined) => (s === undefined ? "none" : TaskState[s]);

describe("PartitionTest (simulated network, manual clock)", () => {
  it("PartitionedSlave: the agent keeps its tasks, the master marks it unreachable (UNREACHABLE to partition-aware, LOST to others), after it reregisters reconciliation converges to RUNNING", async () => {
    const w = await start(SEED);
    const aware = w.framework("aware", 3600, true);
    const plain = w.framework("plain", 3600, false);
    await aware.subscribe();
    const t1 = await aware.launchRunning();
    await plain.subscribe();
    const t2 = await plain.launchRunning();
    const master = w.leader()!;
    w.c.net.partition([A1], [master.address]);
    await w.until(() => aware.states().get(t1) === TaskState.UNREACHABLE, "TASK_UNREACHABLE at the partition-aware framework", PING_WINDOW_MS, 500);
    await w.until(() => plain.states().get(t2) === TaskState.LOST, "TASK_LOST at the other framework", 10_000);
    assert.ok(master.group.raft.machine.registry.unreachable.size === 1, "the agent is unreachable in the registry");
    assert.deepEqual([...w.liveTasks()].sort(), [t1, t2].sort(), "both tasks keep running on the cut-off agent");
    await aware.acknowledge();
    await plain.acknowledge();
    w.c.net.heal();
    await w.until(() => w.c.activeAgents(master) === 1, "the agent reregistered after the heal", PING_WINDOW_MS, 500);
    assert.equal(master.group.raft.machine.registry.unreachable.size, 0, "no longer unreachable in the registry");
    await aware.reconcile();
    await plain.reconcile();
    await w.until(() => aware.states().get(t1) === TaskState.RUNNING, `reconciliation reports ${t1} RUNNING (now ${stateName(aware.states().get(t1))})`);
    await w.until(() => plain.states().get(t2) === TaskState.RUNNING, `reconciliation reports ${t2} RUNNING (now ${stateName(plain.states().get(t2))})`);
    assert.deepEqual(w.host(A1).containerizer.destroyed, [], "nothing was killed");
    assert.deepEqual([...w.launchesPerTask().values()], [1, 1], "each task was launched once");
  });

  it("one-way partition master→agent: pings stop arriving, the agent is marked unreachable once, and after the heal it reregisters with its task still RUNNING", async () => {
    const w = await start(SEED + 1);
    const aware = w.framework("aware", 3600, true);
    await aware.subscribe();
    const t1 = await aware.launchRunning();
    const master = w.leader()!;
    w.c.net.cutOneWay(master.address, A1);
    await w.until(() => aware.states().get(t1) === TaskState.UNREACHABLE, "TASK_UNREACHABLE while the master cannot reach the agent", PING_WINDOW_MS, 500);
    assert.deepEqual([...w.liveTasks()], [t1], "the task keeps running");
    await aware.acknowledge();
    await w.run(60_000, 500);
    assert.equal(aware.updates().filter((u) => u.state === TaskState.UNREACHABLE).length, 1, "marked unreachable once, however often the agent tries to reregister");
    w.c.net.heal();
    await w.until(() => w.c.activeAgents(master) === 1 && w.host(A1).node!.agent.agentState === AgentPhase.RUNNING, "the agent reregistered after the heal", PING_WINDOW_MS, 500);
    await aware.reconcile();
    await w.until(() => aware.states().get(t1) === TaskState.RUNNING, `reconciliation reports ${t1} RUNNING (now ${stateName(aware.states().get(t1))})`);
    assert.equal(w.launchesPerTask().get(t1), 1, "launched once");
    assert.deepEqual(w.host(A1).containerizer.destroyed, [], "nothing was killed");
  });
});

describe("Scheduler failover (simulated network, manual clock)", () => {
  it("SchedulerFailover: resubscribing within failover_timeout gets the same framework, its tasks and the updates that came meanwhile", async () => {
    const w = await start(SEED + 2);
    const f = w.framework("web", 60);
    await f.subscribe();
    const t1 = await f.launchRunning();
    const t2 = await f.launchRunning();
    const id = f.s.frameworkId;
    await f.disconnect();
    await w.endTask(t2);
    await w.run(30_000);
    assert.equal(f.terminal().has(t2), false, "no scheduler to hear FINISHED yet");
    await f.subscribe();
    assert.equal(f.s.frameworkId, id, "the same framework id");
    // The agent retries the unacknowledged update with backoff (at most 10 minutes apart).
    await w.until(() => f.states().get(t2) === TaskState.FINISHED, "the pending FINISHED delivered after the failover", 660_000, 1_000);
    await f.acknowledge();
    await f.reconcile();
    await w.until(() => f.s.sink.updates().some((u) => u.taskId?.value === t1 && u.state === TaskState.RUNNING), `${t1} RUNNING reported on the new subscription`);
    const fw = w.leader()!.group.master.core.frameworks.get(id);
    assert.equal(fw?.tasks.get(t1)?.state, TaskState.RUNNING, "the master kept the task");
    assert.deepEqual(w.host(A1).containerizer.destroyed, [], "nothing was killed");
  });

  it("SchedulerReregisterAfterFailoverTimeout: past failover_timeout the tasks are killed and the framework removed; its id cannot subscribe again", async () => {
    const w = await start(SEED + 3);
    const f = w.framework("web", 10);
    await f.subscribe();
    const t1 = await f.launchRunning();
    const id = f.s.frameworkId;
    await f.disconnect();
    await w.run(9_000);
    assert.deepEqual([...w.liveTasks()], [t1], "still running within the failover timeout");
    await w.until(() => w.liveTasks().size === 0, "the task killed after the failover timeout", 30_000);
    assert.equal(w.host(A1).containerizer.destroyed.length, 1, "its container was destroyed");
    const master = w.leader()!;
    await w.until(() => !master.group.master.core.frameworks.has(id), "the framework removed");
    assert.ok(master.group.raft.machine.registry.removedFrameworks.has(id), "removed in the registry");
    const refused = w.c.pending(f.s.subscribeAt(master));
    await w.until(() => refused.done, "the resubscription answered");
    const err = refused.value;
    assert.ok(err, "a removed framework id is refused");
    assert.match(err.message, new RegExp(id), `the refusal names the framework: ${err.message}`);
  });
});
