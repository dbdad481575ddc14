import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { EventBus } from "../../src/events/bus.js";
import { ClusterEventSchema } from "../../src/gen/dcos/v1/operator_pb.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Random } from "../../src/runtime/random.js";

describe("EventBus.encoded", () => {
  it("gives bytes nothing writes over: kept without a copy, they stay the event's as published through later events and growing buffers (seeded)", () => {
    const seed = Number(process.env["SEED"] ?? 1207);
    const random = new Random(seed);
    const bus = new EventBus();
    const kept: Uint8Array[] = [];
    const expected: Uint8Array[] = [];
    bus.subscribe((e) => kept.push(bus.encoded(e)));
    for (let i = 0; i < 2000; i++) {
      // Mostly small events, some of several KiB and a few bigger than an encoding buffer.
      const size = random.int(20) === 0 ? random.int(40_000) : random.int(200);
      const task = create(TaskSchema, { taskId: { value: `t${i}` }, name: "x".repeat(size), state: TaskState.RUNNING });
      const e = bus.publish("master@h:5050", i, { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } });
      expected.push(toBinary(ClusterEventSchema, e));
      // The master changes its live record after the event: the kept bytes must not follow.
      task.name = "changed";
      task.state = TaskState.FINISHED;
    }
    assert.equal(kept.length, expected.length);
    for (let i = 0; i < kept.length; i++) assert.deepEqual(kept[i], expected[i], `event ${i} (seed ${seed})`);
  });
});
