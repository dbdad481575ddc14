import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { KillTaskSchema, RunTaskSchema, ShutdownFrameworkSchema, StatusUpdateAcknowledgementSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { AcknowledgeRequestSchema, KillRequestSchema, TeardownRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";
import { Code, type DcosError } from "../../src/runtime/error.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function ack(c: Cluster, s: Scheduler, agentId: string, taskId: string, uuid: Uint8Array): Promise<void> {
  await c.facade.acknowledge(
    create(AcknowledgeRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, agentId: { value: agentId }, taskId: { value: taskId }, uuid }),
  );
  await c.clock.settle();
}

/** One framework, one agent, one task launched on the first offer. */
async function launchOne(taskId = "t1"): Promise<{ c: Cluster; s: Scheduler }> {
  const c = (cluster = await Cluster.start());
  const s = await c.subscribe("fw");
  const offers = s.sink.offers();
  assert.equal(offers.length, 1, "one agent gives one offer");
  await c.launch(s, offers, [commandTask(taskId)]);
  return { c, s };
}

describe("master: task lifecycle", () => {
  it("samples how old an agent's update is when the master handles it, from the update's timestamp", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    // Stamped 250 ms ago on the (manual) clock; an update without a timestamp is not sampled.
    agent.update(s.frameworkId, "t1", TaskState.STARTING, { timestamp: (c.clock.now() - 250) / 1000 });
    agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    assert.equal(s.sink.updates().length, 2, "both updates reach the framework");
    const m = c.masterSystem.metrics.snapshot();
    assert.equal(m["master/status_update_age_ms/count"], 1);
    assert.ok(Math.abs(m["master/status_update_age_ms/p50"]! - 250) < 1e-6, `age ${m["master/status_update_age_ms/p50"]}`);
  });

  it("task runs and finishes", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    const run = agent.messages(RunTaskSchema);
    assert.equal(run.length, 1);
    assert.equal(run[0]!.task?.taskId?.value, "t1");
    assert.equal(run[0]!.task?.agentId?.value, agent.agentId);
    assert.equal(run[0]!.role, "*");
    assert.equal(c.metric("master/tasks_staging"), 1);

    const u1 = agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    assert.equal(c.metric("master/tasks_running"), 1);
    await ack(c, s, agent.agentId, "t1", u1);
    const u2 = agent.update(s.frameworkId, "t1", TaskState.FINISHED);
    await c.clock.settle();
    assert.deepEqual(
      s.sink.updates().map((u) => [u.taskId?.value, u.state, u.source]),
      [
        ["t1", TaskState.RUNNING, TaskStatus_Source.EXECUTOR],
        ["t1", TaskState.FINISHED, TaskStatus_Source.EXECUTOR],
      ],
    );
    assert.equal(c.metric("master/tasks_running"), 0);
    assert.equal(c.metric("master/tasks_finished"), 1);
    await ack(c, s, agent.agentId, "t1", u2);
    assert.equal(await c.facade.inspect((core) => core.frameworks.get(s.frameworkId)!.tasks.size), 0, "acknowledged terminal task is forgotten");
    // The resources come back: the next round offers the whole agent again.
    s.sink.clear();
    await c.clock.advance(5000);
    assert.equal(s.sink.offers()[0]?.resources.find((r) => r.name === "cpus")?.scalar?.value, 4);
  });

  it("task fails with its exit code", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    agent.update(s.frameworkId, "t1", TaskState.FAILED, { message: "Command exited with status 3" });
    await c.clock.settle();
    const failed = s.sink.updates().at(-1)!;
    assert.equal(failed.state, TaskState.FAILED);
    assert.equal(failed.message, "Command exited with status 3");
    assert.equal(c.metric("master/tasks_failed"), 1);
  });

  it("kill: the agent is told, the KILLED update reaches the scheduler", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    await ack(c, s, agent.agentId, "t1", agent.update(s.frameworkId, "t1", TaskState.RUNNING));
    await c.facade.kill(create(KillRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, taskId: { value: "t1" } }));
    await c.clock.settle();
    const kills = agent.messages(KillTaskSchema);
    assert.equal(kills.length, 1);
    assert.equal(kills[0]!.taskId?.value, "t1");
    agent.update(s.frameworkId, "t1", TaskState.KILLED);
    await c.clock.settle();
    assert.equal(s.sink.updates().at(-1)!.state, TaskState.KILLED);
    assert.equal(c.metric("master/tasks_killed"), 1);
  });

  it("kill of an unknown task answers TASK_UNKNOWN", async () => {
    const { c, s } = await launchOne();
    await c.facade.kill(create(KillRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, taskId: { value: "nope" } }));
    await c.clock.settle();
    const u = s.sink.updates().at(-1)!;
    assert.equal(u.taskId?.value, "nope");
    assert.equal(u.state, TaskState.UNKNOWN);
    assert.equal(c.agents[0]!.messages(KillTaskSchema).length, 0);
  });

  it("status updates forwarded and acks reach the agent", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    const uuid = agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    const forwarded = s.sink.updates()[0]!;
    assert.deepEqual(forwarded.uuid, uuid, "the scheduler gets the agent's uuid to acknowledge");
    assert.equal(forwarded.agentId?.value, agent.agentId);
    await ack(c, s, agent.agentId, "t1", uuid);
    const acks = agent.messages(StatusUpdateAcknowledgementSchema);
    assert.equal(acks.length, 1);
    assert.deepEqual(acks[0]!.uuid, uuid);
    assert.equal(acks[0]!.taskId?.value, "t1");
    assert.equal(acks[0]!.frameworkId?.value, s.frameworkId);
  });

  it("duplicate acknowledgement: not forwarded, answered NOT_FOUND, counted as a duplicate (not a drop)", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    const uuid = agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    await ack(c, s, agent.agentId, "t1", uuid);
    await assert.rejects(ack(c, s, agent.agentId, "t1", uuid), (e: DcosError) => e.code === Code.NOT_FOUND && /its updates are all acknowledged \(a duplicate\?\)/.test(e.message));
    assert.equal(agent.messages(StatusUpdateAcknowledgementSchema).length, 1, "only the first ack is forwarded");
    assert.equal(c.metric("master/duplicate_status_update_acknowledgements"), 1, "a copy acknowledged twice");
    assert.equal(c.metric("master/invalid_status_update_acknowledgements"), 0);
    assert.equal(c.metric("master/dropped_messages"), 0);
    assert.equal(c.metric("master/valid_status_update_acknowledgements"), 1);
    // An older update's uuid while a newer one awaits its acknowledgement: also a repeat.
    const next = agent.update(s.frameworkId, "t1", TaskState.FINISHED);
    await c.clock.settle();
    await assert.rejects(ack(c, s, agent.agentId, "t1", uuid), (e: DcosError) => e.code === Code.NOT_FOUND && /an older one\?/.test(e.message));
    assert.equal(c.metric("master/duplicate_status_update_acknowledgements"), 2);
    await assert.rejects(ack(c, s, agent.agentId, "t1", new Uint8Array(16).fill(7)), (e: DcosError) => e.code === Code.NOT_FOUND);
    assert.equal(c.metric("master/invalid_status_update_acknowledgements"), 1, "a uuid the task never had is invalid");
    await ack(c, s, agent.agentId, "t1", next);
    assert.equal(c.metric("master/valid_status_update_acknowledgements"), 2);
  });

  it("a stale copy of an older update is forwarded but never moves the task back; its acknowledgement is not awaited", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    const starting = agent.update(s.frameworkId, "t1", TaskState.STARTING);
    await c.clock.settle();
    await ack(c, s, agent.agentId, "t1", starting);
    const running = agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    // A copy of STARTING sent on a connection cut by a failover arrives after RUNNING.
    agent.update(s.frameworkId, "t1", TaskState.STARTING, { uuid: starting });
    await c.clock.settle();
    assert.deepEqual(
      s.sink.updates().map((u) => u.state),
      [TaskState.STARTING, TaskState.RUNNING, TaskState.STARTING],
      "delivery is at least once: the copy reaches the framework",
    );
    assert.equal(c.metric("master/tasks_running"), 1, "the task stays RUNNING");
    assert.equal(c.metric("master/tasks_starting"), 0);
    await assert.rejects(ack(c, s, agent.agentId, "t1", starting), (e: DcosError) => e.code === Code.NOT_FOUND);
    await ack(c, s, agent.agentId, "t1", running);
    assert.deepEqual(
      agent.messages(StatusUpdateAcknowledgementSchema).map((a) => Buffer.from(a.uuid).toString("hex")),
      [starting, running].map((u) => Buffer.from(u).toString("hex")),
      "the agent hears the acknowledgements it waits for, once each",
    );
  });

  it("the newest update resent after its acknowledgement was lost awaits an acknowledgement again", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    const running = agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    await ack(c, s, agent.agentId, "t1", running);
    // The acknowledgement did not reach the agent; it resends RUNNING.
    agent.update(s.frameworkId, "t1", TaskState.RUNNING, { uuid: running });
    await c.clock.settle();
    await ack(c, s, agent.agentId, "t1", running);
    assert.equal(agent.messages(StatusUpdateAcknowledgementSchema).length, 2, "the second acknowledgement is forwarded too");
    assert.equal(c.metric("master/tasks_running"), 1);
  });

  it("an acknowledgement for a task this master does not know reaches the agent holding the update (fault-tolerance hole 3)", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    // The update of a task launched by an earlier leader: this master forwards it without knowing the task.
    const uuid = agent.update(s.frameworkId, "from-the-last-term", TaskState.FINISHED);
    await c.clock.settle();
    assert.equal(s.sink.updates().at(-1)?.taskId?.value, "from-the-last-term", "the update reached the scheduler");
    await ack(c, s, agent.agentId, "from-the-last-term", uuid);
    const acks = agent.messages(StatusUpdateAcknowledgementSchema).filter((a) => a.taskId?.value === "from-the-last-term");
    assert.equal(acks.length, 1, "the agent gets the acknowledgement and stops retrying the update");
    assert.deepEqual(acks[0]!.uuid, uuid);
    assert.equal(acks[0]!.frameworkId?.value, s.frameworkId);
    assert.equal(acks[0]!.agentId?.value, agent.agentId);
  });

  it("framework teardown kills its tasks", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    agent.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    await c.facade.teardown(create(TeardownRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId }));
    await c.clock.settle();
    const shutdowns = agent.messages(ShutdownFrameworkSchema);
    assert.equal(shutdowns.length, 1);
    assert.equal(shutdowns[0]!.frameworkId?.value, s.frameworkId);
    assert.ok(s.sink.closed, "the scheduler's stream ends");
    assert.equal(c.metric("master/tasks_killed"), 1);
    assert.equal(c.metric("master/tasks_running"), 0);
    assert.equal(c.metric("master/frameworks_connected"), 0);
    await assert.rejects(c.subscribe("fw", { id: s.frameworkId }), /was removed/);
  });

  it("the exit of a torn-down framework's executor is expected, not an invalid message", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    await c.facade.teardown(create(TeardownRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId }));
    await c.clock.settle();
    agent.executorExited(s.frameworkId, "t1", 0);
    await c.clock.settle();
    assert.equal(c.metric("master/invalid_agent_messages") ?? 0, 0);
    const live = await c.subscribe("fw2");
    agent.executorExited(live.frameworkId, "e9", 0);
    await c.clock.settle();
    assert.equal(c.metric("master/invalid_agent_messages"), 1, "an executor a live framework never had is still dropped and counted");
  });

  it("the exit of a command task's executor (the agent's, named after the task) is its normal end, running or completed", async () => {
    const { c, s } = await launchOne();
    const agent = c.agents[0]!;
    agent.executorExited(s.frameworkId, "t1", 0);
    await c.clock.settle();
    const finished = agent.update(s.frameworkId, "t1", TaskState.FINISHED);
    await c.clock.settle();
    await ack(c, s, agent.agentId, "t1", finished);
    agent.executorExited(s.frameworkId, "t1", 0);
    await c.clock.settle();
    assert.equal(c.metric("master/invalid_agent_messages") ?? 0, 0);
  });
});
