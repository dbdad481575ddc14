import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { FrameworkMessageSchema, ShutdownFrameworkSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { MessageRequestSchema, ReconcileRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster, commandTask, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

async function twoTasks(): Promise<{ c: Cluster; s: Scheduler }> {
  const c = (cluster = await Cluster.start());
  const s = await c.subscribe("fw", { failoverTimeout: 60 });
  await c.launch(s, s.sink.offers(), [commandTask("t1"), commandTask("t2")]);
  c.agents[0]!.update(s.frameworkId, "t1", TaskState.RUNNING);
  await c.clock.settle();
  s.sink.clear();
  return { c, s };
}

async function reconcile(c: Cluster, s: Scheduler, tasks: { taskId: string; agentId?: string }[]): Promise<void> {
  await c.facade.reconcile(
    create(ReconcileRequestSchema, {
      frameworkId: { value: s.frameworkId },
      streamId: s.streamId,
      tasks: tasks.map((t) => ({ taskId: { value: t.taskId }, agentId: t.agentId ? { value: t.agentId } : undefined })),
    }),
  );
  await c.clock.settle();
}

describe("master: reconciliation, failover, messages", () => {
  it("explicit reconciliation answers the latest state of each named task", async () => {
    const { c, s } = await twoTasks();
    await reconcile(c, s, [{ taskId: "t1" }, { taskId: "t2" }]);
    const u = s.sink.updates();
    assert.deepEqual(
      u.map((x) => [x.taskId?.value, x.state]),
      [
        ["t1", TaskState.RUNNING],
        ["t2", TaskState.STAGING],
      ],
    );
    for (const x of u) {
      assert.equal(x.source, TaskStatus_Source.MASTER);
      assert.equal(x.reason, TaskStatus_Reason.RECONCILIATION);
      assert.equal(x.uuid.length, 0, "reconciliation updates need no acknowledgement");
    }
  });

  it("implicit reconciliation answers every task the master knows", async () => {
    const { c, s } = await twoTasks();
    await reconcile(c, s, []);
    assert.deepEqual(s.sink.updates().map((x) => x.taskId?.value).sort(), ["t1", "t2"]);
  });

  it("unknown task reconciles as UNKNOWN", async () => {
    const { c, s } = await twoTasks();
    await reconcile(c, s, [{ taskId: "ghost", agentId: c.agents[0]!.agentId }]);
    const [u] = s.sink.updates();
    assert.equal(u?.taskId?.value, "ghost");
    assert.equal(u?.state, TaskState.UNKNOWN);
  });

  it("a scheduler fails over within failover_timeout and keeps its tasks; after it, the framework is removed", async () => {
    const { c, s } = await twoTasks();
    await c.facade.streamClosed(s.frameworkId, s.streamId);
    await c.clock.settle();
    assert.equal(c.metric("master/frameworks_disconnected"), 1);
    await c.clock.advance(30_000);
    const again = await c.subscribe("fw", { id: s.frameworkId, failoverTimeout: 60 });
    assert.equal(again.frameworkId, s.frameworkId);
    assert.notEqual(again.streamId, s.streamId);
    assert.equal(c.metric("master/frameworks_connected"), 1);
    await reconcile(c, again, []);
    assert.equal(again.sink.updates().length, 2, "the tasks survived the scheduler failover");
    // The old stream's id is refused now.
    await assert.rejects(c.facade.reconcile(create(ReconcileRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId })), (e: unknown) =>
      DcosError.is(e, Code.FAILED_PRECONDITION),
    );
    // Disconnect for good: after 60 s the framework and its tasks are gone.
    await c.facade.streamClosed(again.frameworkId, again.streamId);
    await c.clock.advance(59_000);
    assert.equal(c.agents[0]!.messages(ShutdownFrameworkSchema).length, 0);
    await c.clock.advance(1_000);
    assert.equal(c.agents[0]!.messages(ShutdownFrameworkSchema).length, 1);
    assert.equal(c.metric("master/frameworks_removed"), 1);
    assert.equal(c.metric("master/tasks_running"), 0);
  });

  it("MESSAGE goes both ways between scheduler and executor", async () => {
    const { c, s } = await twoTasks();
    const agent = c.agents[0]!;
    const data = new TextEncoder().encode("hello");
    await c.facade.message(
      create(MessageRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, agentId: { value: agent.agentId }, executorId: { value: "e1" }, data }),
    );
    await c.clock.settle();
    const [toExecutor] = agent.messages(FrameworkMessageSchema);
    assert.deepEqual(toExecutor?.data, data);
    assert.equal(toExecutor?.executorId?.value, "e1");
    agent.executorMessage(s.frameworkId, "e1", new TextEncoder().encode("back"));
    await c.clock.settle();
    const [fromExecutor] = s.sink.of("message");
    assert.equal(new TextDecoder().decode(fromExecutor?.data), "back");
    await assert.rejects(
      c.facade.message(create(MessageRequestSchema, { frameworkId: { value: s.frameworkId }, streamId: s.streamId, agentId: { value: "nope" }, executorId: { value: "e1" } })),
      (e: unknown) => DcosError.is(e, Code.NOT_FOUND),
    );
    assert.equal(c.metric("master/invalid_framework_to_executor_messages"), 1);
  });

  it("heartbeats arrive every heartbeat interval", async () => {
    const { c, s } = await twoTasks();
    await c.clock.advance(45_000);
    assert.equal(s.sink.of("heartbeat").length, 3);
  });
});
