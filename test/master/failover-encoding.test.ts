/**
 * What the new leader's cheaper paths after a failover must keep exactly as before: the
 * statuses it makes without create() (reconciliation answers), the Subscribe stream's bytes
 * from the event tap's writer instead of toBinary, cluster events encoded once for every
 * listener, the AgentInfo comparison that decides whether a reregistration needs a registry
 * entry, the batched registry entry of agents marked reachable and unreachable, and the
 * count of reconciliation questions waiting for agents.
 */
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { ClusterEventSchema } from "../../src/gen/dcos/v1/operator_pb.js";
import { ReconcileRequestSchema, SubscribeResponseSchema, type Event } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatusSchema, TaskStatus_Reason, TaskStatus_Source, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { Value_Type } from "../../src/gen/dcos/v1/common_pb.js";
import { sameAgentInfo } from "../../src/actors/master/agent-registration.js";
import { PendingReconciliation } from "../../src/actors/master/pending-reconciliation.js";
import { subscribeResponse, subscribeResponseBytes } from "../../src/actors/master/subscribe-encoding.js";
import { EventBus } from "../../src/events/bus.js";
import { applyOperation, emptyRegistry, type RegistryOperation } from "../../src/actors/master/registry.js";
import { decodeCommand, encodeOperation } from "../../src/actors/master/registry-codec.js";
import { Random } from "../../src/runtime/random.js";
import { Cluster, commandTask } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** The status create() gives for the same fields (what the master made before). */
function created(s: TaskStatus): TaskStatus {
  return create(TaskStatusSchema, {
    taskId: { value: s.taskId!.value },
    state: s.state,
    message: s.message,
    source: s.source,
    reason: s.reason,
    timestamp: s.timestamp,
    ...(s.agentId ? { agentId: { value: s.agentId.value } } : {}),
    ...(s.executorId ? { executorId: { value: s.executorId.value } } : {}),
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
  });
}

/** The Subscribe stream's bytes for an event, as toBinary gave them. */
function assertStreamBytes(event: Event, what: string): void {
  const fast = subscribeResponseBytes(subscribeResponse(event));
  const before = toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { event }));
  assert.deepEqual(new Uint8Array(fast), before, `${what}: the stream's bytes are toBinary's`);
}

describe("master: the failover's cheaper paths give what they gave before", () => {
  it("reconciliation answers are the statuses create() made, field for field, and the stream's bytes are toBinary's", async () => {
    const c = (cluster = await Cluster.start());
    const s = await c.subscribe("fw", { failoverTimeout: 60 });
    await c.launch(s, s.sink.offers(), [commandTask("t1"), commandTask("t2")]);
    c.agents[0]!.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    s.sink.clear();
    await c.facade.reconcile(
      create(ReconcileRequestSchema, {
        frameworkId: { value: s.frameworkId },
        streamId: s.streamId,
        tasks: [{ taskId: { value: "t1" } }, { taskId: { value: "t2" } }, { taskId: { value: "ghost" }, agentId: { value: c.agents[0]!.agentId } }, { taskId: { value: "nowhere" } }],
      }),
    );
    await c.clock.settle();
    const answers = s.sink.updates();
    assert.deepEqual(
      answers.map((u) => [u.taskId?.value, u.state]),
      [
        ["t1", TaskState.RUNNING],
        ["t2", TaskState.STAGING],
        ["ghost", TaskState.UNKNOWN],
        ["nowhere", TaskState.UNKNOWN],
      ],
    );
    for (const u of answers) {
      const what = `the answer for ${u.taskId?.value}`;
      assert.equal(u.source, TaskStatus_Source.MASTER);
      assert.equal(u.reason, TaskStatus_Reason.RECONCILIATION);
      const before = created(u);
      assert.ok(equals(TaskStatusSchema, u, before), `${what} equals the created status`);
      // The same own fields as a created message: a field added to TaskStatus shows up here.
      assert.deepEqual(Object.keys(u).sort(), Object.keys(before).sort(), `${what} has the created status's fields`);
      assert.deepEqual(toBinary(TaskStatusSchema, u), toBinary(TaskStatusSchema, before), `${what} encodes as before`);
    }
    for (const e of s.sink.events) assertStreamBytes(e, `event ${e.kind.case}`);
  });

  it("every kind of event a scheduler gets encodes as toBinary does, offers with their resources included", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const s = await c.subscribe("fw", { failoverTimeout: 60 });
    assert.ok(s.sink.offers().length > 0);
    await c.launch(s, s.sink.offers(), [commandTask("t1")]);
    c.agents[0]!.update(s.frameworkId, "t1", TaskState.RUNNING);
    await c.clock.settle();
    const kinds = new Set(s.sink.events.map((e) => e.kind.case));
    for (const k of ["subscribed", "offers", "update"]) assert.ok(kinds.has(k as never), `the stream had ${k} events`);
    for (const e of s.sink.events) assertStreamBytes(e, `event ${e.kind.case}`);
  });

  it("a message the writer cannot take goes through toBinary", () => {
    // A list that is not one: the writer throws on it; toBinary is what the stream sent before.
    const odd = { $typeName: "dcos.v1.SubscribeResponse", event: { $typeName: "dcos.v1.Event", kind: { case: "offers", value: { $typeName: "dcos.v1.Event.Offers", offers: 7 } } } };
    assert.deepEqual(new Uint8Array(subscribeResponseBytes(odd as never)), toBinary(SubscribeResponseSchema, odd as never));
  });

  it("cluster events are encoded once for every listener that keeps bytes, as toBinary does", () => {
    const bus = new EventBus();
    const seen: Uint8Array[] = [];
    bus.subscribe((e) => seen.push(bus.encoded(e).slice()));
    bus.subscribe((e) => seen.push(bus.encoded(e).slice()));
    const kinds = [
      { case: "agentRemoved", value: { $typeName: "dcos.v1.ClusterEvent.AgentRemoved", agentId: { $typeName: "dcos.v1.AgentID", value: "m1-S1" }, reason: "gone" } },
      { case: "heartbeat", value: { $typeName: "dcos.v1.ClusterEvent.Heartbeat" } },
    ] as const;
    const published = kinds.map((k) => bus.publish("master@h:5050", 12.5, k as never));
    assert.equal(seen.length, 4);
    for (const [i, e] of published.entries()) {
      const bytes = toBinary(ClusterEventSchema, e);
      assert.deepEqual(seen[2 * i], bytes, `${e.kind.case}: the first listener's bytes`);
      assert.deepEqual(seen[2 * i + 1], bytes, `${e.kind.case}: the second listener's bytes`);
    }
    // Asked again for an older event after a newer one was encoded: encoded anew, still right.
    assert.deepEqual(bus.encoded(published[0]!), toBinary(ClusterEventSchema, published[0]!));
  });

  it("AgentInfo comparison: same info is the same, any change is seen (seeded cases)", () => {
    const seed = Number(process.env["SEED"] ?? 18);
    const random = new Random(seed);
    const base = () =>
      create(AgentInfoSchema, {
        id: { value: "m1-S1" },
        hostname: "h1",
        pid: "agent@h1:5051",
        port: 5051,
        principal: "",
        resources: [
          { name: "cpus", type: Value_Type.SCALAR, scalar: { value: 4 } },
          { name: "mem", type: Value_Type.SCALAR, scalar: { value: 4096 } },
          { name: "ports", type: Value_Type.RANGES, ranges: { range: [{ begin: 31000, end: 32000 }] } },
        ],
        attributes: [{ name: "rack", type: Value_Type.TEXT, text: { value: "r1" } }],
      });
    assert.ok(sameAgentInfo(base(), base()), "equal infos");
    const changes: Array<[string, (i: ReturnType<typeof base>) => void]> = [
      ["hostname", (i) => (i.hostname = "h2")],
      ["pid", (i) => (i.pid = "agent@h1:5052")],
      ["a resource amount", (i) => (i.resources[0]!.scalar!.value = 4 + random.int(1000) / 100 + 0.01)],
      ["a resource dropped", (i) => i.resources.pop()],
      ["a range end", (i) => (i.resources[2]!.ranges!.range[0]!.end = 32001)],
      ["an attribute", (i) => (i.attributes[0]!.text!.value = `r${2 + random.int(9)}`)],
      ["resources reordered", (i) => i.resources.reverse()],
      ["the id", (i) => (i.id = { $typeName: "dcos.v1.AgentID", value: "m1-S2" })],
    ];
    for (const [what, change] of changes) {
      const changed = base();
      change(changed);
      assert.equal(sameAgentInfo(base(), changed), equals(AgentInfoSchema, base(), changed), `${what} (seed ${seed})`);
      assert.equal(sameAgentInfo(base(), changed), false, `${what} is a change (seed ${seed})`);
    }
    // A decoded copy (what a reregistration carries) is the same info.
    const decoded = fromBinary(AgentInfoSchema, toBinary(AgentInfoSchema, base()));
    assert.ok(sameAgentInfo(base(), decoded), "a decoded copy");
  });

  it("agents marked reachable and unreachable together: one Raft entry that decodes as written, applied all or none", () => {
    const info = (id: string, cpus: number) => create(AgentInfoSchema, { id: { value: id }, hostname: id, pid: `agent@${id}:5051`, resources: [{ name: "cpus", type: Value_Type.SCALAR, scalar: { value: cpus } }] });
    const state = emptyRegistry();
    for (const id of ["a1", "a2", "a3"]) applyOperation(state, { kind: "admitAgent", agentId: id, info: info(id, 1) });
    applyOperation(state, { kind: "markAgentUnreachable", agentId: "a3", unreachableAtMs: 5 });
    const op: RegistryOperation = {
      kind: "markAgents",
      reachable: [
        { agentId: "a1", info: info("a1", 2) },
        { agentId: "a3", info: info("a3", 3) },
      ],
      unreachable: [{ agentId: "a2", unreachableAtMs: 1_700_000_000_123 }],
    };
    const decoded = decodeCommand(encodeOperation(op, 4));
    assert.equal(decoded.term, 4);
    assert.ok("op" in decoded && decoded.op.kind === "markAgents");
    assert.deepEqual(decoded.op.unreachable, op.unreachable);
    assert.deepEqual(decoded.op.reachable.map((a) => a.agentId), ["a1", "a3"]);
    for (const [i, a] of decoded.op.reachable.entries()) assert.ok(equals(AgentInfoSchema, a.info, op.reachable[i]!.info));
    applyOperation(state, decoded.op);
    assert.deepEqual([...state.agents.keys()].sort(), ["a1", "a3"]);
    assert.equal(state.agents.get("a1")?.resources[0]?.scalar?.value, 2);
    assert.deepEqual([...state.unreachable.entries()].map(([id, u]) => [id, u.unreachableAtMs]), [["a2", 1_700_000_000_123]]);
    // All or none: an entry with one agent that does not fit leaves everything as it was.
    const before = JSON.stringify([[...state.agents.keys()], [...state.unreachable.keys()]]);
    assert.throws(() => applyOperation(state, { kind: "markAgents", reachable: [{ agentId: "a2", info: info("a2", 9) }], unreachable: [{ agentId: "a2", unreachableAtMs: 1 }] }), /twice in the entry/);
    assert.throws(() => applyOperation(state, { kind: "markAgents", reachable: [{ agentId: "a2", info: info("a2", 9) }], unreachable: [{ agentId: "nobody", unreachableAtMs: 1 }] }), /not admitted/);
    state.gone.add("a9");
    assert.throws(() => applyOperation(state, { kind: "markAgents", reachable: [{ agentId: "a9", info: info("a9", 1) }], unreachable: [{ agentId: "a1", unreachableAtMs: 1 }] }), /marked gone/);
    assert.equal(JSON.stringify([[...state.agents.keys()], [...state.unreachable.keys()]]), before, "nothing applied");
  });

  it("the reconciliation questions waiting are counted once each, and taken away", () => {
    const p = new PendingReconciliation();
    p.add("a1", "fw", "t1");
    p.add("a1", "fw", "t1");
    p.add("a1", "fw", "t2");
    p.add(undefined, "fw", "t3");
    p.add("a2", "fw2", "t1");
    assert.equal(p.size, 4, "a question asked twice waits once");
    const taken = (agent: string | undefined): Array<[string, string[]]> => [...p.take(agent)].map(([f, questions]) => [f, [...questions.taskIds]]);
    assert.deepEqual(taken("a1"), [["fw", ["t1", "t2"]]]);
    assert.equal(p.size, 2);
    assert.deepEqual(taken("a1"), []);
    assert.ok(p.hasAgentless());
    assert.deepEqual(taken(undefined), [["fw", ["t3"]]]);
    // A call's questions about one agent's tasks, through the list it holds: counted as add counts them.
    const q = p.questions("a2", "fw2");
    q.add("t1");
    q.add("t9");
    assert.equal(p.size, 2);
    assert.deepEqual(taken("a2"), [["fw2", ["t1", "t9"]]]);
    assert.equal(p.size, 0);
  });
});
