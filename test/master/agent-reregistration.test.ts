import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { AgentInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import { UpdateAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskSchema, TaskState } from "../../src/gen/dcos/v1/tasks_pb.js";
import { InMemoryRegistrar } from "../../src/actors/master/registry.js";
import { parseResources, Resources } from "../../src/resources/index.js";
import { scalar } from "../support/resources.js";
import { Cluster } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const RESOURCES = "cpus:4;mem:4096";

/** A registry holding agents admitted by a master before it restarted. */
async function registryWith(agents: Record<string, string>): Promise<InMemoryRegistrar> {
  const registrar = new InMemoryRegistrar();
  for (const [id, hostname] of Object.entries(agents)) {
    const info = create(AgentInfoSchema, { id: { value: id }, hostname, pid: `agent@${hostname}:5051`, resources: parseResources(RESOURCES).toProto() });
    await registrar.apply({ kind: "admitAgent", agentId: id, info });
  }
  return registrar;
}

describe("master: agent reregistration after a restart", () => {
  it("agents of the registry that do not reregister within agent_reregister_timeout are marked unreachable", async () => {
    const registrar = await registryWith({ "m0-S1": "host1", "m0-S2": "host2", "m0-S3": "host3" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    await c.addAgent("host1", RESOURCES, "m0-S1");
    await c.clock.advance(30_000);
    await c.addAgent("host2", RESOURCES, "m0-S2");
    assert.equal(c.metric("master/slaves_active"), 2);

    await c.clock.advance(29_999);
    assert.equal(registrar.state().unreachable.size, 0, "nobody is unreachable before the timeout");
    assert.equal(c.metric("master/slave_unreachable_completed"), 0);

    await c.clock.advance(1);
    assert.deepEqual([...registrar.state().unreachable.keys()], ["m0-S3"], "only the agent that never came back");
    assert.deepEqual([...registrar.state().agents.keys()].sort(), ["m0-S1", "m0-S2"]);
    assert.equal(c.metric("master/slave_unreachable_completed"), 1);
    assert.equal(c.metric("master/slaves_active"), 2, "the reregistered agents stay active");
  });

  it("an agent marked unreachable that comes back later is admitted again", async () => {
    const registrar = await registryWith({ "m0-S1": "host1" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 10_000 }));
    await c.clock.advance(10_000);
    assert.ok(registrar.state().unreachable.has("m0-S1"));
    const agent = await c.addAgent("host1", RESOURCES, "m0-S1");
    assert.equal(agent.agentId, "m0-S1");
    assert.ok(registrar.state().agents.has("m0-S1"), "reachable again in the registry");
    assert.equal(registrar.state().unreachable.size, 0);
    assert.equal(c.metric("master/slaves_active"), 1);
  });

  it("an agent that comes back unchanged after a failover costs no registry entry; one whose info changed is written", async () => {
    const registrar = await registryWith({ "m0-S1": "host1", "m0-S2": "host2" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const before = registrar.applied.length;
    await c.addAgent("host1", RESOURCES, "m0-S1");
    assert.equal(c.metric("master/slaves_active"), 1, "reregistered");
    assert.deepEqual(registrar.applied.slice(before), [], "the registry already holds it as it is: no entry");
    await c.addAgent("host2", "cpus:8;mem:4096", "m0-S2");
    assert.equal(c.metric("master/slaves_active"), 2);
    assert.deepEqual(registrar.applied.slice(before).map((op) => op.kind), ["markAgentReachable"], "the changed agent is written");
    assert.equal(registrar.state().agents.get("m0-S2")?.resources.find((r) => r.name === "cpus")?.scalar?.value, 8, "with its new resources");
    await c.clock.advance(60_000);
    assert.equal(registrar.state().unreachable.size, 0, "neither is marked unreachable when the window closes");
  });

  it("an agent back unchanged keeps one AgentInfo, the registry's, which later changes of its total leave alone", async () => {
    const registrar = await registryWith({ "m0-S1": "host1", "m0-S2": "host2" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const agent = await c.addAgent("host1", RESOURCES, "m0-S1");
    await c.addAgent("host2", RESOURCES, "m0-S2");
    const kept = [registrar.state().agents.get("m0-S1")!, registrar.state().agents.get("m0-S2")!];
    const infoOf = (id: string) => c.facade.inspect((m) => m.agents.get(id)!.info);
    assert.equal(await infoOf("m0-S1"), kept[0], "the record holds the registry's info, not a second copy");
    assert.equal(await infoOf("m0-S2"), kept[1]);

    // The agent reports a new total (UpdateAgent, status-updates.ts).
    agent.tell(create(UpdateAgentSchema, { agentId: { value: "m0-S1" }, totalResources: parseResources("cpus:6;mem:4096").toProto() }));
    await c.clock.settle();
    assert.equal(String(Resources.of((await infoOf("m0-S1")).resources)), "cpus:6; mem:4096", "the record has the new total");
    // The operator reserves part of the other (operator-operations.ts).
    await c.facade.operateResources({ operation: "reserve", agentId: "m0-S2", resources: [scalar("cpus", 1, "ops")] });
    assert.equal(String(Resources.of((await infoOf("m0-S2")).resources)), "cpus:3; mem:4096; cpus(ops):1");
    assert.equal(c.metric("master/cpus_total"), 10, "the master's counts follow");
    for (const [i, id] of ["m0-S1", "m0-S2"].entries()) {
      assert.equal(registrar.state().agents.get(id), kept[i]);
      assert.equal(String(Resources.of(kept[i]!.resources)), "cpus:4; mem:4096", `the registry's info of ${id} is as the registry wrote it`);
    }
  });

  it("changed agents reregistering in one turn are written as one entry, and so are the agents that never came back", async () => {
    const ids: Record<string, string> = {};
    for (let i = 1; i <= 12; i++) ids[`m0-S${i}`] = `host${i}`;
    const registrar = await registryWith(ids);
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const before = registrar.applied.length;
    // Eight come back in the same turn with more cpus (changed info): one markAgents entry for all eight.
    const back = Object.fromEntries(Object.entries(ids).slice(0, 8));
    await c.reregisterAgentsAtOnce(back, "cpus:8;mem:4096");
    assert.equal(c.metric("master/slaves_active"), 8);
    const written = registrar.applied.slice(before);
    assert.deepEqual(written.map((op) => op.kind), ["markAgents"], "one entry for the turn's changed agents");
    const entry = written[0]!;
    assert.ok(entry.kind === "markAgents");
    assert.deepEqual(entry.reachable.map((a) => a.agentId).sort(), Object.keys(back).sort());
    assert.deepEqual(entry.unreachable, []);
    for (const id of Object.keys(back)) assert.equal(registrar.state().agents.get(id)?.resources.find((r) => r.name === "cpus")?.scalar?.value, 8, `${id} has its new resources`);
    // The other four never come back: one entry marks them unreachable when the window closes.
    await c.clock.advance(60_000);
    const closed = registrar.applied.slice(before + 1);
    assert.deepEqual(closed.map((op) => op.kind), ["markAgents"], "one entry for the agents that did not come back");
    assert.deepEqual([...registrar.state().unreachable.keys()].sort(), ["m0-S10", "m0-S11", "m0-S12", "m0-S9"]);
    assert.equal(c.metric("master/slave_unreachable_completed"), 4);
    assert.equal(c.metric("master/slaves_active"), 8, "the ones that came back stay active");
    // A lone change is written as the operation it always was.
    await c.addAgent("host9", RESOURCES, "m0-S9");
    assert.deepEqual(registrar.applied.slice(before + 2).map((op) => op.kind), ["markAgentReachable"]);
    assert.ok(registrar.state().agents.has("m0-S9"));
  });

  it("adopted tasks keep the ids of the master's records: one id object per agent and per framework, not two per task", async () => {
    const registrar = await registryWith({ "m0-S1": "host1" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const a = await c.subscribe("a");
    const b = await c.subscribe("b");
    const task = (id: string, frameworkId: string) =>
      create(TaskSchema, { taskId: { value: id }, frameworkId: { value: frameworkId }, agentId: { value: "m0-S1" }, state: TaskState.RUNNING, resources: parseResources("cpus:0.5;mem:64").toProto() });
    await c.addAgent("host1", RESOURCES, "m0-S1", [task("a1", a.frameworkId), task("a2", a.frameworkId), task("b1", b.frameworkId)]);
    const core = c.master.core;
    const agent = core.agents.get("m0-S1")!;
    assert.equal(c.metric("master/tasks_running"), 3, "every task adopted");
    for (const [s, ids] of [[a, ["a1", "a2"]], [b, ["b1"]]] as const) {
      const framework = core.frameworks.get(s.frameworkId)!;
      for (const id of ids) {
        const adopted = framework.tasks.get(id)!;
        assert.equal(adopted.agentId, agent.idMessage, `${id}: the agent record's id object`);
        assert.equal(adopted.frameworkId, framework.idMessage, `${id}: the framework record's id object`);
        assert.equal(adopted.agentId?.value, "m0-S1");
        assert.equal(adopted.frameworkId?.value, s.frameworkId);
        assert.equal(agent.tasks.get(`${s.frameworkId}/${id}`), adopted, `${id} is on the agent`);
      }
    }
    const [a1, a2, b1] = [core.frameworks.get(a.frameworkId)!.tasks.get("a1")!, core.frameworks.get(a.frameworkId)!.tasks.get("a2")!, core.frameworks.get(b.frameworkId)!.tasks.get("b1")!];
    for (const other of [a2, b1]) other.resources.forEach((r, i) => assert.equal(r, a1.resources[i], `${other.taskId?.value}'s ${r.name} is a1's object (equal plain resources are shared)`));
    assert.deepEqual(a1.resources.map((r) => [r.name, r.scalar?.value]), [["cpus", 0.5], ["mem", 64]]);
  });

  it("the timeout defaults to 10 minutes", async () => {
    const registrar = await registryWith({ "m0-S1": "host1" });
    const c = (cluster = await Cluster.start({ agents: 0, registrar }));
    await c.clock.advance(599_999);
    assert.equal(registrar.state().unreachable.size, 0);
    await c.clock.advance(1);
    assert.ok(registrar.state().unreachable.has("m0-S1"));
  });
  it("the agent's resources are parsed once per (re)registration: the allocator takes the master's parse", async () => {
    // A resource only the agents have, so the parses of their lists can be told from the tasks'.
    const agentResources = "cpus:4;mem:4096;gpus:1";
    const registrar = new InMemoryRegistrar();
    const info = create(AgentInfoSchema, { id: { value: "m0-S1" }, hostname: "host1", pid: "agent@host1:5051", resources: parseResources(agentResources).toProto() });
    await registrar.apply({ kind: "admitAgent", agentId: "m0-S1", info });
    const c = (cluster = await Cluster.start({ agents: 0, registrar, agentReregisterTimeoutMs: 60_000 }));
    const a = await c.subscribe("a");
    // How often each list of the agents' resources (told from the tasks' by their gpus) is parsed.
    const parses = new Map<unknown, number>();
    const parse = Resources.of;
    Resources.of = (list) => {
      if (Array.isArray(list) && list.some((r: { name?: string }) => r.name === "gpus")) parses.set(list, (parses.get(list) ?? 0) + 1);
      return parse.call(Resources, list);
    };
    try {
      const task = create(TaskSchema, { taskId: { value: "t1" }, frameworkId: { value: a.frameworkId }, agentId: { value: "m0-S1" }, state: TaskState.RUNNING, resources: parseResources("cpus:1;mem:64").toProto() });
      await c.addAgent("host1", agentResources, "m0-S1", [task]);
      assert.equal(c.metric("master/slaves_active"), 1);
      assert.ok(parses.size > 0);
      assert.deepEqual([...new Set(parses.values())], [1], "reregistered after a failover: the agent's list parsed once");
      parses.clear();
      await c.addAgent("host2", agentResources);
      assert.equal(c.metric("master/slaves_active"), 2);
      assert.ok(parses.size > 0);
      assert.deepEqual([...new Set(parses.values())], [1], "registered: the agent's list parsed once");
    } finally {
      Resources.of = parse;
    }
    // The allocator holds what the master parsed: the task's share used, the rest offered.
    await c.allocate();
    const offered = a.sink.offers().filter((o) => o.agentId?.value === "m0-S1").map((o) => Resources.of(o.resources).unallocated().toString());
    assert.deepEqual(offered, [Resources.of(parseResources("cpus:3;mem:4032;gpus:1").toProto()).toString()]);
  });
});
