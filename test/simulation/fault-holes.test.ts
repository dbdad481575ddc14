/**
 * The fault-tolerance holes a chaos run on a busy machine found (issue 10), each replayed
 * deterministically: real masters and agents, fake containerizers, SimNetwork, ManualClock.
 * The timings that opened them on a loaded machine are forced here: executors reconnecting
 * while their agent still recovers, a partition shorter than the masters' ping timeout,
 * the leader re-elected after losing its quorum. FT_SEED replays another seed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ExecutorServiceSubscribeRequestSchema } from "../../src/gen/dcos/v1/executor_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentPhase } from "../../src/actors/agent/agent.js";
import { ExecutorPhase } from "../../src/actors/agent/agent-records.js";
import { SimWorld } from "./sim-world.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(41);
const A1 = "a1:5051";

let world: SimWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe("Fault-tolerance holes of a busy machine (simulated network, manual clock)", () => {
  // Holes 1 and the starved executor are about executors reconnecting: the per-task executor mode ("process").
  it("hole 1: an executor reconnecting while its restarted agent still recovers is held and subscribes, its task keeps running", async () => {
    const w = (world = await SimWorld.start(SEED, { masters: 1, agents: 1, commandExecutor: "process" }));
    await w.ready();
    const f = w.framework("long", 3600, true);
    await f.subscribe();
    const taskId = await f.launchRunning();
    const containerId = w.container(taskId)!.id;

    const node = await w.restartAgent(A1);
    assert.equal(node.agent.agentState, AgentPhase.RECOVERING, "the executor reconnects before recovery finished");
    const early = w.c.pending(
      node.agent.subscribe(create(ExecutorServiceSubscribeRequestSchema, { frameworkId: { value: f.s.frameworkId }, executorId: { value: taskId } }), {
        send: () => undefined,
        close: () => undefined,
      }),
    );
    node.subscribed.add(containerId); // this test's executor is the only one
    await w.until(() => early.done, "the early subscription to be answered", 10_000);
    assert.equal(early.error, undefined, `the agent answered the early subscription with ${String(early.error)}`);
    assert.equal(node.agent.executorOf(f.s.frameworkId, taskId)?.phase, ExecutorPhase.RUNNING, "the executor is subscribed again");
    await w.run(30_000, 1_000);
    assert.ok(w.liveTasks().has(taskId), "the task's container still runs past the executor reregistration timeout");
    assert.ok(![...f.terminal()].includes(taskId), `the task never ended (last ${TaskState[f.states().get(taskId) ?? 0]})`);
  });

  it("hole 1 (random executors): executors reconnecting during every agent restart are never refused to death", async () => {
    const w = (world = await SimWorld.start(SEED + 1, { masters: 1, agents: 2, commandExecutor: "process" }));
    await w.ready();
    const f = w.framework("long", 3600, true);
    await f.subscribe();
    const tasks = [await f.launchRunning(), await f.launchRunning()];
    for (let i = 0; i < 3; i++) for (const host of w.hosts.keys()) await w.restartAgent(host, true);
    await w.ready();
    await w.run(30_000, 1_000);
    assert.deepEqual(w.c.executorDeaths, [], "no executor was refused to death");
    for (const t of tasks) assert.ok(w.liveTasks().has(t), `task ${t} still runs`);
  });

  it("starved executor: one that reconnects a minute after its agent restarted (past the 15 s reregistration timeout) keeps its task", async () => {
    const w = (world = await SimWorld.start(SEED, { masters: 1, agents: 1, commandExecutor: "process" }));
    await w.ready();
    const f = w.framework("starved", 3600, true);
    await f.subscribe();
    const taskId = await f.launchRunning();
    const node = await w.restartAgentWithLateExecutors(A1, 60_000);
    await w.run(30_000, 1_000);
    assert.equal(node.agent.executorOf(f.s.frameworkId, taskId)?.phase, ExecutorPhase.REGISTERING, "still waited for, past the reregistration timeout");
    await w.run(40_000, 1_000);
    assert.equal(node.agent.executorOf(f.s.frameworkId, taskId)?.phase, ExecutorPhase.RUNNING, `the late executor subscribed again (seed ${w.seed})`);
    assert.ok(w.liveTasks().has(taskId), "its task still runs");
    assert.ok(!f.terminal().has(taskId), `the task never ended (heard ${f.updates().filter((u) => u.taskId?.value === taskId).map((u) => TaskState[u.state]).join(", ")}; seed ${w.seed})`);
  });

  it("hole 2: an agent healed from a cut shorter than the ping timeout follows the leader's ping at once, not the master its retries moved to", async () => {
    // A registration backoff far longer than the test: only the leader's ping can bring the agent back in time.
    const w = (world = await SimWorld.start(SEED, { masters: 3, agents: 1, agent: { registrationBackoffMs: 120_000, maxRegistrationBackoffMs: 600_000 } }));
    const leader = await w.c.waitForLeader();
    await w.until(() => w.c.activeAgents(leader) === 1, "the agent registered (its first attempt may precede the election)", 600_000, 1_000);
    const agent = w.host(A1).node!.agent;
    w.c.net.partition([A1], w.c.addresses);
    await w.until(() => agent.agentState === AgentPhase.DISCONNECTED, "the agent to see its connection break", 10_000);
    await w.run(40_000, 1_000);
    w.c.net.heal();
    // The master has not noticed the cut (15 s × 5 pings): its next ping reaches the agent within an interval.
    await w.until(() => agent.agentState === AgentPhase.RUNNING, "the agent to reregister after the heal", 20_000, 200);
    assert.equal(w.leader(), leader, "the leader never changed");
    assert.equal(w.c.activeAgents(leader), 1, "the agent is active at the leader");
  });

  it("reregistration race: a retried reregistration that reaches the master after it launched a task there does not drop the task", async () => {
    // The agent's link to the master is slow (a busy machine): its reregistration retries pile
    // up in flight, and the master reregisters it from the first, offers its resources and
    // launches a task before the later copies, listing no such task, arrive.
    const w = (world = await SimWorld.start(SEED, { masters: 1, agents: 1 }));
    const leader = await w.ready();
    const master = leader.address;
    const f = w.framework("race", 3600, true);
    await f.subscribe();
    w.c.net.setFaults({ minDelayMs: 8_000, maxDelayMs: 8_000 }, A1, master);
    const node = await w.restartAgent(A1);
    await w.until(() => node.agent.agentState === AgentPhase.RUNNING, "the agent reregistered from its first attempt", 60_000);
    const askedBefore = leader.group.master.core.metrics.agentTaskReconciliations.value;
    let taskId: string | undefined;
    for (let i = 0; i < 50 && !(taskId = await f.launch()); i++) await w.run(200, 200);
    assert.ok(taskId, `a task launched on the reregistered agent within 10 s (seed ${w.seed})`);
    await w.run(12_000, 200); // the retries still in flight arrive
    w.c.net.setFaults({ minDelayMs: 1, maxDelayMs: 1 }, A1, master);
    await w.run(20_000, 200);
    await f.acknowledge();
    const heard = f.updates().filter((u) => u.taskId?.value === taskId).map((u) => TaskState[u.state]);
    assert.ok(!f.terminal().has(taskId!), `${taskId} was never reported terminal (heard ${heard.join(", ")}; seed ${w.seed})`);
    assert.equal(f.states().get(taskId!), TaskState.RUNNING, `${taskId} is RUNNING at the framework (heard ${heard.join(", ")})`);
    assert.ok(w.liveTasks().has(taskId!), `${taskId} runs`);
    assert.equal(leader.group.master.core.frameworks.get(f.s.frameworkId)?.tasks.get(taskId!)?.state, TaskState.RUNNING, "the master's view is the framework's");
    assert.ok(
      leader.group.master.core.metrics.agentTaskReconciliations.value > askedBefore,
      `the race happened: a stale reregistration reached the master after ${taskId} was launched, not listing it (seed ${w.seed})`,
    );
  });

  it("hole 4: when the leader loses its quorum and wins the next term itself, its agents reregister at once", async () => {
    const w = (world = await SimWorld.start(SEED, { masters: 3, agents: 2 }));
    const leader = await w.ready();
    const term = leader.group.master.knownLeader?.term ?? 0;
    const standbys = w.c.mastersUp().filter((m) => m !== leader);
    for (const m of standbys) await w.c.crashMaster(m.address);
    await w.until(() => !leader.group.master.leading, "the leader to step down without its quorum", 10_000);
    for (const m of standbys) await w.c.startMaster(m.address);
    await leader.system.dispatch(leader.group.raft, (n) => n.campaign());
    await w.until(() => w.leader() === leader && (leader.group.master.knownLeader?.term ?? 0) > term, "the same master to lead a newer term", 10_000);
    // Well within the agents' own ping timeout (75 s): only the new term's announcement brings them back this fast.
    await w.until(() => w.c.activeAgents(leader) === 2, "both agents to reregister with the re-elected leader", 10_000);
  });
});
