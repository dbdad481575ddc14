import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { describe, it } from "node:test";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ExecutorInfoSchema } from "../../src/gen/dcos/v1/tasks_pb.js";
import { AgentRecord, AgentState } from "../../src/actors/master/agent-record.js";
import { Pid } from "../../src/runtime/pid.js";

const record = (id: string): AgentRecord => new AgentRecord(id, create(AgentInfoSchema, { hostname: id }), Pid.parse(`agent@${id}:5051`), AgentState.ACTIVE);

describe("master: agent record", () => {
  it("an agent that runs no executor keeps no executor map of its own; the first executor gives it one", () => {
    const [a, b] = [record("a1"), record("a2")];
    assert.equal(a.executors, b.executors, "one shared empty map");
    assert.equal(a.executors.size, 0);
    assert.throws(() => a.executors.set("fw", new Map()), /through AgentRecord.addExecutor/, "the shared map takes no executor");
    assert.equal(a.executors.delete("fw"), false);

    const before = a.tasksVersion;
    a.addExecutor("fw", create(ExecutorInfoSchema, { executorId: { value: "e1" } }));
    assert.ok(a.tasksVersion > before);
    assert.notEqual(a.executors, b.executors);
    assert.equal(a.executor("fw", "e1")?.executorId?.value, "e1");
    assert.deepEqual([...a.executors.keys()], ["fw"]);
    assert.equal(b.executors.size, 0, "the other agent still has none");
    assert.equal(a.removeExecutor("fw", "e1")?.executorId?.value, "e1");
    assert.equal(a.executors.size, 0);
  });
});
