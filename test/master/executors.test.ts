import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { RunTaskSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { ExecutorInfoSchema, TaskInfoSchema, TaskState, TaskStatus_Reason, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/index.js";
import { Cluster } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A task run by a custom executor "e1" whose command is `command`. */
function executorTask(id: string, command: string, executorResources = "cpus:0.1;mem:32"): TaskInfo {
  return create(TaskInfoSchema, {
    name: id,
    taskId: { value: id },
    resources: parseResources("cpus:0.5;mem:64").toProto(),
    executor: create(ExecutorInfoSchema, { executorId: { value: "e1" }, command: { value: command }, resources: parseResources(executorResources).toProto() }),
  });
}

describe("master: executors", () => {
  it("MultipleExecutors: the same ExecutorInfo again reuses the running executor; a different one gets TASK_ERROR", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:8;mem:8192" }));
    const s = await c.subscribe("fw");
    const [first] = s.sink.offers();
    s.sink.clear();
    await c.launch(s, [first!], [executorTask("t1", "./exec --mode=a")], 0);
    assert.deepEqual(s.sink.updates(), [], "t1 launched");
    if (s.sink.offers().length === 0) await c.allocate();
    const [offer] = s.sink.offers();
    assert.ok(offer, "the rest of the agent is offered again");
    assert.deepEqual(
      offer.executorIds.map((e) => e.value),
      ["e1"],
      "the offer names the running executor",
    );

    await c.launch(s, [offer], [executorTask("t2", "./exec --mode=a"), executorTask("t3", "./exec --mode=b"), executorTask("t4", "./exec --mode=a", "cpus:0.2;mem:32")], 0);

    const byTask = new Map(s.sink.updates().map((u) => [u.taskId!.value, u]));
    assert.equal(byTask.has("t2"), false, "same ExecutorInfo: launched, no update from the master");
    for (const [task, field] of [
      ["t3", "command"],
      ["t4", "resources"],
    ] as const) {
      const u = byTask.get(task);
      assert.equal(u?.state, TaskState.ERROR, `${task} refused`);
      assert.equal(u?.reason, TaskStatus_Reason.TASK_INVALID);
      assert.match(u!.message, new RegExp(`executor e1 is already running with a different ExecutorInfo \\(${field} differ\\)`));
    }
    const runs = c.agents[0]!.messages(RunTaskSchema).map((m) => m.task!.taskId!.value);
    assert.deepEqual(runs, ["t1", "t2"]);
  });

  it("two tasks in one accept naming one executor id with different infos: the second gets TASK_ERROR", async () => {
    const c = (cluster = await Cluster.start({ agentResources: "cpus:8;mem:8192" }));
    const s = await c.subscribe("fw");
    await c.launch(s, s.sink.offers(), [executorTask("t1", "./exec"), executorTask("t2", "./other-exec")]);
    const [u] = s.sink.updates();
    assert.equal(u?.taskId?.value, "t2");
    assert.equal(u?.state, TaskState.ERROR);
    assert.match(u!.message, /already running with a different ExecutorInfo \(command differ\)/);
    assert.deepEqual(
      c.agents[0]!.messages(RunTaskSchema).map((m) => m.task!.taskId!.value),
      ["t1"],
    );
  });
});
