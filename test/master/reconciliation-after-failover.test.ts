/**
 * Reconciliation while a new leader's agents come back (reconciliation.ts): a call naming
 * many tasks gets, task by task, the answer reconcileTask gives (known: its state; on an
 * unreachable agent: LOST; on an agent not in the registry: UNKNOWN; on an agent that may
 * still reregister, or without an agent while any may: nothing yet, answered when it is
 * back), and what it can say of one agent is looked up once for a run of its tasks.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ReconcileRequestSchema } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskSchema, TaskState, type Task } from "../../src/gen/dcos/v1/tasks_pb.js";
import { InMemoryRegistrar } from "../../src/actors/master/registry.js";
import { parseResources } from "../../src/resources/index.js";
import { Cluster, type Scheduler } from "./harness.js";

const RES = "cpus:4;mem:4096";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A master whose registry holds agents a1..aN (none back yet) and u9 unreachable, with one framework subscribed. */
async function newLeader(agents: number): Promise<{ c: Cluster; s: Scheduler; registrar: InMemoryRegistrar }> {
  const registrar = new InMemoryRegistrar();
  const info = (id: string, host: string) => create(AgentInfoSchema, { id: { value: id }, hostname: host, pid: `agent@${host}:5051`, resources: parseResources(RES).toProto() });
  for (let i = 1; i <= agents; i++) await registrar.apply({ kind: "admitAgent", agentId: `a${i}`, info: info(`a${i}`, `host${i}`) });
  await registrar.apply({ kind: "admitAgent", agentId: "u9", info: info("u9", "hostu9") });
  await registrar.apply({ kind: "markAgentUnreachable", agentId: "u9", unreachableAtMs: 1 });
  const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 600_000 }));
  const s = await c.subscribe("fw", { failoverTimeout: 600 });
  return { c, s, registrar };
}

function running(s: Scheduler, agentId: string, taskId: string): Task {
  return create(TaskSchema, {
    name: taskId,
    taskId: { value: taskId },
    frameworkId: { value: s.frameworkId },
    agentId: { value: agentId },
    state: TaskState.RUNNING,
    resources: parseResources("cpus:0.1;mem:32").toProto(),
    role: "*",
  });
}

async function reconcile(c: Cluster, s: Scheduler, tasks: Array<[string, string | undefined]>): Promise<void> {
  await c.facade.reconcile(
    create(ReconcileRequestSchema, {
      frameworkId: { value: s.frameworkId },
      streamId: s.streamId,
      tasks: tasks.map(([taskId, agentId]) => ({ taskId: { value: taskId }, agentId: agentId ? { value: agentId } : undefined })),
    }),
  );
  await c.clock.settle();
}

const answers = (s: Scheduler): string[] => s.sink.updates().map((u) => `${u.taskId?.value}:${TaskState[u.state]}`);

describe("master: reconciliation while the agents reregister after a failover", () => {
  it("a call naming agents in runs, out of order and not at all gets each task's own answer, the waiting ones when their agent is back", async () => {
    const { c, s } = await newLeader(3);
    await c.addAgent("host3", RES, "a3", [running(s, "a3", "k1")]);
    s.sink.clear();
    await reconcile(c, s, [
      ["t1", "a1"],
      ["t2", "a1"],
      ["u1", "u9"], // unreachable: LOST (the framework is not partition-aware)
      ["k1", "a3"], // known: RUNNING
      ["t3", "a2"],
      ["t4", "a1"], // a1 again after other agents
      ["t1", "a1"], // asked twice in one call: waits once
      ["x1", "ghost"], // not in the registry: UNKNOWN
      ["k2", "a3"], // a3 is back and has no k2: UNKNOWN
      ["n1", undefined], // without an agent while a1 and a2 may come back: waits
    ]);
    assert.deepEqual(answers(s), ["u1:LOST", "k1:RUNNING", "x1:UNKNOWN", "k2:UNKNOWN"]);
    assert.equal(c.master.core.pendingReconciliation.size, 5, "t1, t2, t4 on a1, t3 on a2, n1 without an agent");
    s.sink.clear();
    await c.addAgent("host1", RES, "a1", [running(s, "a1", "t1"), running(s, "a1", "t4")]);
    assert.deepEqual(answers(s).sort(), ["t1:RUNNING", "t2:UNKNOWN", "t4:RUNNING"]);
    s.sink.clear();
    await c.addAgent("host2", RES, "a2");
    assert.deepEqual(answers(s).sort(), ["n1:UNKNOWN", "t3:UNKNOWN"], "a2's task, then the agentless question once no agent may come back");
    assert.equal(c.master.core.pendingReconciliation.size, 0);
  });

  it("looks an agent up in the registry once for a run of its tasks, not once per task", async () => {
    const agents = 20;
    const { c, s, registrar } = await newLeader(agents);
    const state = registrar.state.bind(registrar);
    let reads = 0;
    registrar.state = () => {
      reads++;
      return state();
    };
    const tasks: Array<[string, string]> = [];
    for (let a = 1; a <= agents; a++) for (let k = 0; k < 5; k++) tasks.push([`t${a}-${k}`, `a${a}`]);
    await reconcile(c, s, tasks);
    assert.equal(c.master.core.pendingReconciliation.size, 100, "every question waits for its agent");
    assert.equal(answers(s).length, 0);
    // Per task this was two reads (the unreachable list, then whether the agent may still come back): 200.
    assert.ok(reads <= 2 * agents, `${reads} reads of the registry for 100 tasks of ${agents} agents`);
  });
});
