import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EventBus } from "../../src/events/bus.js";
import { ClusterEventSchema } from "../../src/gen/dcos/v1/operator_pb.js";
import { TaskSchema, TaskState, TaskStatusSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { RecentEvents } from "../../src/ui/recent-events.js";
import { Random } from "../../src/runtime/random.js";

describe("RecentEvents", () => {
  it("keeps the last events as they were when published (toBinary's bytes), without heartbeats, at most capacity", () => {
    const bus = new EventBus();
    const recent = new RecentEvents(bus, 3);
    const task = create(TaskSchema, { taskId: { value: "t1" }, frameworkId: { value: "fw" }, state: TaskState.STAGING, statuses: [{ taskId: { value: "t1" }, state: TaskState.STAGING }] });
    const expected: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const e = bus.publish("master@test", i, { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } });
      expected.push(toBinary(ClusterEventSchema, e));
      bus.publish("master@test", i, { case: "heartbeat", value: { $typeName: "dcos.v1.ClusterEvent.Heartbeat" } });
      // The master goes on changing its live record after each event.
      task.statuses.push(create(TaskStatusSchema, { taskId: { value: "t1" }, state: TaskState.RUNNING, message: `change ${i}` }));
    }
    const values = recent.values();
    assert.deepEqual(
      values.map((e) => toBinary(ClusterEventSchema, e)),
      expected.slice(2),
    );
    assert.deepEqual(
      values.map((e) => (e.kind.case === "taskAdded" ? e.kind.value.task?.statuses.length : -1)),
      [3, 4, 5],
      "each event shows the statuses the task had when it was published",
    );
    recent.close();
    bus.publish("master@test", 9, { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } });
    assert.equal(recent.values().length, 3);
  });

  it("keeps the last events through many turns of its ring, events of every size among them (seeded)", () => {
    const seed = 91207;
    const random = new Random(seed);
    const bus = new EventBus();
    const recent = new RecentEvents(bus, 7);
    const expected: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) {
      // Names of 0 to 3,000 characters: events below and above a slot's usual size.
      const name = "n".repeat(random.int(4) === 0 ? random.int(3000) : random.int(100));
      const task = create(TaskSchema, { taskId: { value: `t${i}` }, name, state: TaskState.RUNNING });
      expected.push(toBinary(ClusterEventSchema, bus.publish("master@test", i, { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } })));
      if (i === 3) assert.deepEqual(recent.values().map((e) => toBinary(ClusterEventSchema, e)), expected, `before the ring is full (seed ${seed})`);
    }
    assert.deepEqual(recent.values().map((e) => toBinary(ClusterEventSchema, e)), expected.slice(-7), `the last 7, oldest first (seed ${seed})`);
  });
});
