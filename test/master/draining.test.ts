/**
 * MasterDrainingTest: DrainAgent, DeactivateAgent and ReactivateAgent on the master test
 * harness (manual clock, scripted agents, the real allocator and registry).
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { DrainState } from "../../src/gen/dcos/v1/cluster_pb.js";
import { KillTaskSchema, ShutdownAgentSchema } from "../../src/gen/dcos/v1/internal_pb.js";
import { TaskState, TaskStatus_Reason } from "../../src/gen/dcos/v1/tasks_pb.js";
import { stateResponse } from "../../src/actors/master/state-response.js";
import { startMasterHttp } from "../../src/operator/master-http.js";
import { webUiRoutes } from "../../src/ui/web-ui-routes.js";
import { masterStateJson } from "../../src/operator/master-state-json.js";
import { Code } from "../../src/runtime/error.js";
import { Cluster, commandTask, rejectsWith as rejects, type Scheduler } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** A framework with task t1 RUNNING on the first agent (kill grace period 10 s). */
async function runningTask(c: Cluster): Promise<{ s: Scheduler; agentId: string }> {
  const s = await c.subscribe("fw");
  const offer = s.sink.offers().find((o) => o.agentId!.value === c.agents[0]!.agentId)!;
  const task = commandTask("t1", "cpus:1;mem:128");
  task.killPolicy = { $typeName: "dcos.v1.KillPolicy", gracePeriodSeconds: 10 };
  await c.launch(s, [offer], [task]);
  c.agents[0]!.update(s.frameworkId, "t1", TaskState.RUNNING);
  await c.clock.settle();
  s.sink.clear();
  return { s, agentId: c.agents[0]!.agentId! };
}

function offeredAgents(s: Scheduler): Set<string> {
  return new Set(s.sink.offers().map((o) => o.agentId!.value));
}

describe("MasterDrainingTest", () => {
  it("DrainAgentWithRunningTasks: no more offers of it, its task is killed within the max grace period, TASK_KILLED says why, then it is DRAINED", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { s, agentId } = await runningTask(c);
    await c.facade.drainAgent(agentId, 2, false);
    await c.clock.settle();
    const kills = c.agents[0]!.messages(KillTaskSchema);
    assert.equal(kills.length, 1);
    assert.equal(kills[0]!.taskId!.value, "t1");
    assert.equal(kills[0]!.killPolicy?.gracePeriodSeconds, 2, "the task's 10 s grace period is capped by the drain's 2 s");
    assert.equal(c.registrar.state().drains.get(agentId)?.drainInfo?.state, DrainState.DRAINING);

    for (let i = 0; i < 3; i++) await c.allocate();
    assert.ok(!offeredAgents(s).has(agentId), "a draining agent is never offered");
    const response = await c.facade.inspect((core) => stateResponse(core, 0));
    const state = JSON.parse(JSON.stringify(masterStateJson(response, { cluster: "test", flags: {}, leader: response.masterInfo, electedTime: 0 }))) as { slaves: { id: string; deactivated: boolean; drain_info?: { state: string; config: { max_grace_period?: { nanoseconds: number } } } }[]; deactivated_slaves: number };
    const drained = state.slaves.find((a) => a.id === agentId)!;
    assert.equal(drained.deactivated, true);
    assert.equal(drained.drain_info?.state, "DRAINING");
    assert.equal(drained.drain_info?.config.max_grace_period?.nanoseconds, 2e9);
    assert.equal(state.deactivated_slaves, 1);

    c.agents[0]!.update(s.frameworkId, "t1", TaskState.KILLED);
    await c.clock.settle();
    const [killed] = s.sink.updates();
    assert.equal(killed!.state, TaskState.KILLED);
    assert.equal(killed!.reason, TaskStatus_Reason.AGENT_DRAINING);
    assert.match(killed!.message, /being drained/);
    assert.equal(c.registrar.state().drains.get(agentId)?.drainInfo?.state, DrainState.DRAINED);
    assert.ok(c.registrar.state().agents.has(agentId), "drained without mark_gone: the agent stays admitted");
  });

  it("DrainAgentMarkGone: the framework hears TASK_GONE_BY_OPERATOR, the drained agent is removed for good and told to shut down", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { s, agentId } = await runningTask(c);
    await c.facade.drainAgent(agentId, undefined, true);
    await c.clock.settle();
    assert.equal(c.agents[0]!.messages(KillTaskSchema)[0]!.killPolicy?.gracePeriodSeconds, 10, "without a max grace period the task's own applies");
    c.agents[0]!.update(s.frameworkId, "t1", TaskState.KILLED);
    await c.clock.settle();
    const [gone] = s.sink.updates();
    assert.equal(gone!.state, TaskState.GONE_BY_OPERATOR);
    assert.equal(gone!.reason, TaskStatus_Reason.AGENT_DRAINING);
    assert.ok(c.registrar.state().gone.has(agentId), "marked gone in the registry");
    assert.equal(await c.facade.inspect((core) => core.agents.has(agentId)), false);
    assert.equal(c.agents[0]!.messages(ShutdownAgentSchema).length, 1);
    c.agents[0]!.reregister();
    await c.clock.settle();
    assert.equal(c.agents[0]!.messages(ShutdownAgentSchema).length, 2, "a gone agent may not come back");
  });

  it("ReactivateAgent: a drained (empty) agent is DRAINED at once and offered again once reactivated", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const s = await c.subscribe("fw", { roles: ["*"] });
    const agentId = c.agents[1]!.agentId!;
    await c.facade.drainAgent(agentId, 0, false);
    await c.clock.settle();
    assert.equal(c.registrar.state().drains.get(agentId)?.drainInfo?.state, DrainState.DRAINED, "no task: drained at once");
    s.sink.clear();
    for (let i = 0; i < 2; i++) await c.allocate();
    assert.ok(!offeredAgents(s).has(agentId));
    await c.facade.reactivateAgent(agentId);
    await c.allocate();
    assert.ok(offeredAgents(s).has(agentId), "offered again after ReactivateAgent");
    assert.equal(c.registrar.state().drains.has(agentId), false);
    await assert.rejects(c.facade.reactivateAgent(agentId), rejects(Code.FAILED_PRECONDITION, /neither deactivated nor draining/));
  });

  it("DeactivateAgent keeps tasks running and stops offers; the drain survives a master restart, which kills what is left", async () => {
    const c = (cluster = await Cluster.start({ agents: 2 }));
    const { s, agentId } = await runningTask(c);
    await c.facade.deactivateAgent(agentId);
    await c.clock.settle();
    assert.equal(c.agents[0]!.messages(KillTaskSchema).length, 0, "deactivation kills nothing");
    for (let i = 0; i < 2; i++) await c.allocate();
    assert.ok(!offeredAgents(s).has(agentId), "a deactivated agent is not offered");
    await c.facade.drainAgent(agentId, 1, false);
    const registrar = c.registrar;
    const task = await c.facade.inspect((core) => core.frameworks.get(s.frameworkId)!.tasks.get("t1")!);
    await c.stop();
    const next = (cluster = await Cluster.start({ agents: 0, registrar }));
    const agent = await next.addAgent("host1", "cpus:4;mem:4096", agentId, [task]);
    const kills = agent.messages(KillTaskSchema);
    assert.ok(kills.some((k) => k.taskId!.value === "t1" && k.killPolicy?.gracePeriodSeconds === 1), "the new master goes on with the drain");
  });

  it("bad requests say what is wrong: unknown agent, negative grace period, empty id", async () => {
    const c = (cluster = await Cluster.start({ agents: 1 }));
    await assert.rejects(c.facade.drainAgent("nope", 1, false), rejects(Code.NOT_FOUND, /DrainAgent: unknown agent 'nope'/));
    await assert.rejects(c.facade.drainAgent(c.agents[0]!.agentId!, -1, false), rejects(Code.INVALID_ARGUMENT, /max_grace_period_seconds must be a finite number >= 0/));
    await assert.rejects(c.facade.deactivateAgent(""), rejects(Code.INVALID_ARGUMENT, /agent_id is required/));
  });

  it("the web UI's Drain and Reactivate buttons: POST /ui/agents/:id/drain and /reactivate, with the same checks", async () => {
    const c = (cluster = await Cluster.start({ agents: 1 }));
    const http = await startMasterHttp({ host: "127.0.0.1", port: 0, master: c.facade, metrics: c.masterSystem.metrics, cluster: "test", version: "9.9.9", flags: {}, routes: [webUiRoutes({ master: c.facade })] });
    try {
      const id = c.agents[0]!.agentId!;
      const post = (path: string, body: unknown) => fetch(`http://${http.address}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const ok = await post(`/ui/agents/${id}/drain`, { max_grace_period_seconds: 3 });
      assert.equal(ok.status, 200, await ok.clone().text());
      assert.equal(c.registrar.state().drains.get(id)?.drainInfo?.config?.maxGracePeriodSeconds, 3);
      const state = (await (await fetch(`http://${http.address}/state`)).json()) as { slaves: { id: string; drain_info?: { state: string } }[] };
      assert.equal(state.slaves[0]!.drain_info?.state, "DRAINED", "an agent without tasks is drained at once");
      const bad = await post(`/ui/agents/${id}/drain`, { max_grace_period_seconds: "soon" });
      assert.equal(bad.status, 400);
      assert.match(((await bad.json()) as { message: string }).message, /max_grace_period_seconds must be a number/);
      const unknown = await post(`/ui/agents/nope/reactivate`, {});
      assert.equal(unknown.status, 404);
      assert.equal((await post(`/ui/agents/${id}/reactivate`, {})).status, 200);
      assert.equal(c.registrar.state().drains.has(id), false);
    } finally {
      await http.close();
    }
  });
});
