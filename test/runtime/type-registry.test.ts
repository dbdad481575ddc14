import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { TaskSchema, TaskState, type Task } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Random } from "../../src/runtime/random.js";
import { TypeRegistry } from "../../src/runtime/types.js";

describe("TypeRegistry.encode", () => {
  it("gives each message bytes of its own, toBinary's, however many small ones share a block (seeded)", () => {
    const seed = 20261207;
    const random = new Random(seed);
    const types = new TypeRegistry().add(TaskSchema);
    const sent: Array<{ task: Task; bytes: Uint8Array }> = [];
    // Sizes below and above the pooled bound (1 KiB), enough of them to fill many 8 KiB blocks.
    for (let i = 0; i < 3000; i++) {
      const name = "n".repeat(random.int(8) === 0 ? random.int(5000) : random.int(300));
      const task = create(TaskSchema, { name, taskId: { value: `t${i}` }, state: TaskState.RUNNING });
      sent.push({ task, bytes: types.encode(task) });
    }
    for (const [i, { task, bytes }] of sent.entries()) {
      assert.deepEqual(bytes, toBinary(TaskSchema, task), `message ${i} (seed ${seed})`);
      assert.equal(fromBinary(TaskSchema, bytes).taskId?.value, `t${i}`);
    }
  });
});
