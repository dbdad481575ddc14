import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ClusterEventSchema } from "../../src/gen/dcos/v1/operator_pb.js";
import { TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { eventLine } from "../../src/events/tail.js";

describe("dcos-node events lines", () => {
  it("names task states as operators read them (TASK_RUNNING), not by number", () => {
    const updated = create(ClusterEventSchema, {
      sequence: 7n,
      timestamp: 0,
      source: "master@127.0.0.1:5050",
      kind: { case: "taskUpdated", value: { frameworkId: { value: "f1" }, state: TaskState.RUNNING, status: { taskId: { value: "t1" }, state: TaskState.RUNNING } } },
    });
    assert.equal(eventLine(updated), "1970-01-01T00:00:00.000Z master@127.0.0.1:5050 #7 TASK_UPDATED task t1 of framework f1 is now TASK_RUNNING");
    const status = create(ClusterEventSchema, {
      sequence: 8n,
      timestamp: 0,
      source: "master@127.0.0.1:5050",
      kind: { case: "statusUpdate", value: { frameworkId: { value: "f1" }, status: { taskId: { value: "t1" }, state: TaskState.FINISHED } } },
    });
    assert.match(eventLine(status), / STATUS_UPDATE task t1 of framework f1: TASK_FINISHED$/);
  });

  it("shows a state this build does not know by its number, marked as such", () => {
    const future = create(ClusterEventSchema, { kind: { case: "taskUpdated", value: { frameworkId: { value: "f1" }, state: 99 as TaskState, status: { taskId: { value: "t1" } } } } });
    assert.match(eventLine(future), /is now TASK_STATE_99$/);
  });
});
