import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { AgentInfoSchema, FrameworkInfoSchema, MasterInfoSchema, QuotaInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { RegistryMachine } from "../../src/actors/master/raft-registrar.js";
import { encodeElected, encodeOperation } from "../../src/actors/master/registry-codec.js";
import type { RegistryOperation } from "../../src/actors/master/registry.js";
import { parseResources } from "../../src/resources/index.js";
import { Code, DcosError } from "../../src/runtime/error.js";

const agent = (id: string) => create(AgentInfoSchema, { hostname: id, id: { value: id }, pid: `agent@${id}:5051`, resources: parseResources("cpus:2;mem:512").toProto() });
const framework = (id: string) => create(FrameworkInfoSchema, { id: { value: id }, name: id, user: "nobody", roles: ["*"], failoverTimeout: 3600 });

/** Every kind of registry operation, in an order that fits. */
const OPERATIONS: RegistryOperation[] = [
  { kind: "admitAgent", agentId: "a1", info: agent("a1") },
  { kind: "admitAgent", agentId: "a2", info: agent("a2") },
  { kind: "admitAgent", agentId: "a3", info: agent("a3") },
  { kind: "markAgentUnreachable", agentId: "a1", unreachableAtMs: 1_700_000_000_123 },
  { kind: "markAgentReachable", agentId: "a1", info: agent("a1") },
  { kind: "markAgentUnreachable", agentId: "a2", unreachableAtMs: 1_700_000_000_456 },
  { kind: "markAgentGone", agentId: "a3" },
  { kind: "admitAgent", agentId: "a4", info: agent("a4") },
  { kind: "removeAgent", agentId: "a4" },
  { kind: "admitAgents", agents: [{ agentId: "a5", info: agent("a5") }, { agentId: "a6", info: agent("a6") }] },
  { kind: "addFramework", info: framework("f1") },
  { kind: "addFramework", info: framework("f2") },
  { kind: "updateFramework", info: create(FrameworkInfoSchema, { ...framework("f1"), failoverTimeout: 60 }) },
  { kind: "removeFramework", frameworkId: "f2" },
  { kind: "updateWeights", weights: new Map([["web", 2.5]]) },
  { kind: "updateQuota", quotas: [create(QuotaInfoSchema, { role: "web", guarantees: parseResources("cpus:1").toProto() })] },
  { kind: "completeTask", task: create(TaskSchema, { taskId: { value: "t1" }, frameworkId: { value: "f1" }, agentId: { value: "a1" }, state: TaskState.FINISHED, name: "t1" }) },
];

function elected(machine: RegistryMachine, term: number): void {
  machine.apply(encodeElected(create(MasterInfoSchema, { id: `m${term}`, pid: `master@m${term}:5050` }), term));
}

function refusal(fn: () => void): DcosError {
  try {
    fn();
  } catch (err) {
    return err as DcosError;
  }
  assert.fail("expected the command to be refused");
}

describe("The registry in Raft (RegistryMachine)", () => {
  it("applies every operation from its protobuf command, and a snapshot restores the same registry", () => {
    const m = new RegistryMachine();
    elected(m, 3);
    for (const op of OPERATIONS) m.apply(encodeOperation(op, 3));
    const r = m.registry;
    assert.deepEqual([...r.agents.keys()], ["a1", "a5", "a6"]);
    assert.equal(r.unreachable.get("a2")?.unreachableAtMs, 1_700_000_000_456);
    assert.deepEqual([...r.gone], ["a3"]);
    assert.deepEqual([...r.frameworks.keys()], ["f1"]);
    assert.equal(r.frameworks.get("f1")?.failoverTimeout, 60, "frameworks keep their failover timeout");
    assert.deepEqual([...r.removedFrameworks], ["f2"]);
    assert.equal(r.weights.get("web"), 2.5);
    assert.equal(r.quotas.get("web")?.guarantees.length, 1);
    assert.deepEqual(r.completedTasks.map((t) => [t.taskId?.value, t.state]), [["t1", TaskState.FINISHED]]);
    const copy = new RegistryMachine();
    copy.restore(m.snapshot());
    assert.deepEqual(copy.snapshot(), m.snapshot());
    assert.equal(copy.leaderTerm, 3);
    assert.equal(copy.leader?.pid, "master@m3:5050");
    assert.equal(copy.registry.agents.get("a1")?.hostname, "a1");
    assert.equal(copy.registry.completedTasks[0]?.taskId?.value, "t1", "the completed-task history is in the snapshot");
  });

  it("admits agents batched in one entry all or none: one known id refuses the whole entry", () => {
    const m = new RegistryMachine();
    elected(m, 1);
    m.apply(encodeOperation({ kind: "admitAgent", agentId: "a1", info: agent("a1") }, 1));
    const e = refusal(() => m.apply(encodeOperation({ kind: "admitAgents", agents: [{ agentId: "a2", info: agent("a2") }, { agentId: "a1", info: agent("a1") }] }, 1)));
    assert.equal(e.code, Code.FAILED_PRECONDITION);
    assert.match(e.message, /Cannot admit 2 agents: the id a1 is already in the registry/);
    assert.deepEqual([...m.registry.agents.keys()], ["a1"], "a2 was not admitted either");
    const twice = refusal(() => m.apply(encodeOperation({ kind: "admitAgents", agents: [{ agentId: "a3", info: agent("a3") }, { agentId: "a3", info: agent("a3") }] }, 1)));
    assert.match(twice.message, /twice in the entry/);
    m.apply(encodeOperation({ kind: "admitAgents", agents: [{ agentId: "a2", info: agent("a2") }, { agentId: "a3", info: agent("a3") }] }, 1));
    assert.deepEqual([...m.registry.agents.keys()], ["a1", "a2", "a3"]);
  });

  it("fences writes by term: once a newer master is elected, an older master's operations are refused", () => {
    const m = new RegistryMachine();
    elected(m, 2);
    m.apply(encodeOperation(OPERATIONS[0]!, 2));
    elected(m, 5);
    const e = refusal(() => m.apply(encodeOperation({ kind: "updateWeights", weights: new Map([["old", 9]]) }, 2)));
    assert.equal(e.code, Code.FAILED_PRECONDITION);
    assert.match(e.message, /of the master of term 2: the master of term 5 leads/);
    assert.equal(m.registry.weights.has("old"), false, "a refused operation changes nothing");
    assert.match(refusal(() => elected(m, 4)).message, /election of a master in term 4/);
    assert.equal(refusal(() => m.apply(new Uint8Array([0xff, 0xff]))).code, Code.INVALID_ARGUMENT, "garbage is refused precisely");
  });
});
