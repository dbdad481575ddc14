import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { AgentRegisteredSchema, AgentReregisteredSchema, ShutdownAgentSchema, UnregisterAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskSchema, TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const PING_TIMEOUT_MS = 15_000;
const MAX_MISSED = 5;

async function running(c: Cluster, s: Scheduler, taskId: string): Promise<void> {
  await c.launch(s, s.sink.offers(), [commandTask(taskId)]);
  c.agents[0]!.update(s.frameworkId, taskId, TaskState.RUNNING);
  await c.clock.settle();
}

describe("master: agents", () => {
  it("registers an agent with a fresh id and admits it through the registrar", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const ids = c.agents.map((a) => a.agentId);
    assert.deepEqual(ids, ["m1-S1", "m1-S2"]);
    assert.equal(c.agents[0]!.messages(AgentRegisteredSchema)[0]!.pingIntervalSeconds, 15);
    assert.deepEqual(
      c.registrar.applied.map((op) => op.kind),
      ["admitAgent", "admitAgent"],
    );
    assert.equal(c.metric("master/slaves_active"), 2);
    // A repeated registration from the same agent gets the same id back.
    c.agents[0]!.register();
    await c.clock.settle();
    assert.deepEqual(
      c.agents[0]!.messages(AgentRegisteredSchema).map((m) => m.agentId?.value),
      ["m1-S1", "m1-S1"],
    );
  });

  it("a registration storm: agents registering in one turn are admitted in one registry entry each batch, each agent once", async () => {
    const c = (cluster = await Cluster.start({ agents: 0 }));
    const storm = await c.addAgentsAtOnce(1_200, "cpus:1;mem:128");
    const ops = c.registrar.applied;
    // At most MAX_CHANGES_PER_ENTRY (500, turn-batch.ts) agents per entry: 1,200 agents take 3 entries.
    assert.deepEqual(
      ops.map((op) => (op.kind === "admitAgents" ? op.agents.length : op.kind)),
      [500, 500, 200],
    );
    const admitted = ops.flatMap((op) => (op.kind === "admitAgents" ? op.agents.map((a) => a.agentId) : []));
    assert.equal(new Set(admitted).size, 1_200, "every agent admitted once");
    for (const agent of storm) assert.deepEqual(agent.messages(AgentRegisteredSchema).length, 1, `${agent.agentId} registered once`);
    assert.equal(c.metric("master/slaves_active"), 1_200);
    assert.equal(c.metric("master/slave_registrations"), 1_200);
    assert.equal(c.registrar.state().agents.size, 1_200);
    // The next registration, alone in its turn, is an entry of its own.
    await c.addAgent("late", "cpus:1;mem:128");
    assert.equal(c.registrar.applied.at(-1)!.kind, "admitAgent");
  });

  it("an agent with invalid resources is told to shut down", async () => {
    const c = (cluster = await Cluster.start({ agents: 0 }));
    const bad = await c.addAgent("bad", "cpus:1");
    bad.resources[0]!.name = "";
    bad.register();
    await c.clock.settle();
    const [shutdown] = bad.messages(ShutdownAgentSchema);
    assert.match(shutdown!.message, /invalid registration: agent_info.resources: Invalid resource #1: its name is empty/);
  });

  it("agent stops answering pings → tasks UNREACHABLE (partition-aware) or LOST", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:4;mem:4096" }));
    const aware = await c.subscribe("aware", { partitionAware: true });
    await running(c, aware, "a1");
    const plain = await c.subscribe("plain");
    await c.allocate();
    await c.launch(plain, plain.sink.offers(), [commandTask("p1")]);
    c.agents[0]!.update(plain.frameworkId, "p1", TaskState.RUNNING);
    await c.clock.settle();

    c.agents[0]!.answerPings = false;
    await c.clock.advance(PING_TIMEOUT_MS * (MAX_MISSED - 1));
    assert.equal(c.metric("master/slaves_unreachable"), 0, "still reachable before 5 missed pings");
    assert.equal(c.metric("master/slaves_disconnected"), 1);
    // The fifth ping times out within two more ping periods (the first may have been answered).
    await c.clock.advanceUntil(() => c.metric("master/slaves_unreachable") === 1, 2 * PING_TIMEOUT_MS, 1000);

    const a = aware.sink.updates().at(-1)!;
    assert.equal(a.taskId?.value, "a1");
    assert.equal(a.state, TaskState.UNREACHABLE);
    assert.equal(a.source, TaskStatus_Source.MASTER);
    assert.equal(a.reason, TaskStatus_Reason.AGENT_REMOVED);
    const p = plain.sink.updates().at(-1)!;
    assert.equal(p.taskId?.value, "p1");
    assert.equal(p.state, TaskState.LOST);
    assert.equal(c.metric("master/tasks_unreachable"), 1);
    assert.equal(c.metric("master/tasks_lost"), 1);
    assert.ok(c.registrar.state().unreachable.has(c.agents[0]!.agentId));
  });

  it("an unreachable agent that reregisters brings its tasks back", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("aware", { partitionAware: true });
    await running(c, s, "a1");
    const agent = c.agents[0]!;
    agent.answerPings = false;
    await c.clock.advance(PING_TIMEOUT_MS * (MAX_MISSED + 1));
    assert.equal(c.metric("master/slaves_unreachable"), 1);

    agent.answerPings = true;
    agent.reregister([
      create(TaskSchema, {
        taskId: { value: "a1" },
        frameworkId: { value: s.frameworkId },
        agentId: { value: agent.agentId },
        state: TaskState.RUNNING,
        resources: commandTask("a1").resources,
      }),
      create(TaskSchema, { taskId: { value: "orphan" }, frameworkId: { value: "gone-fw" }, state: TaskState.RUNNING }),
    ]);
    await c.clock.settle();
    const [ack] = agent.messages(AgentReregisteredSchema);
    assert.equal(ack?.agentId?.value, agent.agentId);
    assert.deepEqual(
      ack?.unknownFrameworks.map((f) => f.value),
      ["gone-fw"],
    );
    assert.equal(c.metric("master/slaves_unreachable"), 0);
    assert.equal(c.metric("master/slaves_active"), 1);
    assert.equal(c.metric("master/tasks_running"), 1);
    assert.ok(c.registrar.state().agents.has(agent.agentId));
  });

  it("an agent that unregisters takes its tasks with it (TASK_GONE for partition-aware)", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("aware", { partitionAware: true });
    await running(c, s, "a1");
    const agent = c.agents[0]!;
    agent.tell(create(UnregisterAgentSchema, { agentId: { value: agent.agentId } }));
    await c.clock.settle();
    assert.equal(s.sink.updates().at(-1)!.state, TaskState.GONE);
    assert.equal(c.metric("master/slaves_active"), 0);
    assert.equal(c.metric("master/slave_removals"), 1);
  });

  it("messages from an unregistered agent are dropped and counted", async () => {
    const c = (cluster = await Cluster.start({ agents: 0 }));
    const s = await c.subscribe("fw");
    const stranger = await c.addAgent("stranger", "cpus:1");
    await c.clock.settle();
    stranger.agentId = "m1-S99";
    // Make the master forget it: unregister, then talk.
    stranger.tell(create(UnregisterAgentSchema, { agentId: { value: "m1-S1" } }));
    await c.clock.settle();
    stranger.update(s.frameworkId, "t", TaskState.RUNNING);
    await c.clock.settle();
    assert.equal(s.sink.updates().length, 0);
    assert.ok((c.metric("master/invalid_agent_messages") ?? 0) >= 1);
    assert.ok((c.metric("master/dropped_messages") ?? 0) >= 1);
  });
});
