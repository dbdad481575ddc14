/**
 * MasterQuotaTest: role quota set through the master (as the Operator API does), enforced
 * by the real allocator, kept in the registry across a master restart, and reported as
 * metrics and on /quota — on the manual clock with scripted agents.
 */
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { afterEach, describe, it } from "node:test";
import { QuotaConfigSchema, QuotaInfoSchema } from "../../src/gen/dcos/v1/cluster_pb.js";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import { startMasterHttp } from "../../src/operator/master-http.js";
import { parseResources } from "../../src/resources/index.js";
import { roundScalar } from "../../src/resources/scalar.js";
import { Code } from "../../src/runtime/error.js";
import { Cluster, commandTask, rejectsWith as rejects } from "./harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const AGENT = "cpus:4;mem:4096";

function scalar(offers: readonly Offer[], name: string): number {
  return roundScalar(offers.reduce((sum, o) => sum + (o.resources.filter((r) => r.name === name).reduce((s, r) => s + (r.scalar?.value ?? 0), 0)), 0));
}

function config(role: string, guarantees: Record<string, number>, limits: Record<string, number> = {}) {
  const map = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).map(([k, value]) => [k, { value }]));
  return create(QuotaConfigSchema, { role, guarantees: map(guarantees), limits: map(limits) });
}

describe("MasterQuotaTest", () => {
  it("GuaranteeUnderContention: a role's guarantee is kept back from a greedy role and offered to it when it arrives", async () => {
    const c = (cluster = await Cluster.start({ agents: 2, agentResources: AGENT }));
    await c.facade.updateQuota([], [config("prod", { cpus: 4, mem: 1024 })]);
    await c.clock.settle();
    const batch = await c.subscribe("batch", { roles: ["batch"] });
    await c.allocate();
    // batch may have the 4 cpus above prod's guarantee, and memory nobody is guaranteed.
    assert.equal(scalar(batch.sink.offers(), "cpus"), 4);
    await c.launch(batch, batch.sink.offers(), [commandTask("greedy", "cpus:4;mem:2048")]);
    const prod = await c.subscribe("prod", { roles: ["prod"] });
    await c.allocate();
    assert.equal(scalar(prod.sink.offers(), "cpus"), 4, "prod is offered its whole guarantee though batch arrived first");
    assert.equal(c.metric("allocator/mesos/quota/roles/prod/resources/cpus/offered_or_allocated"), 4);
  });

  it("LimitOnIdleCluster: a role is never offered more than its limit, even when nobody else wants anything", async () => {
    const c = (cluster = await Cluster.start({ agents: 3, agentResources: AGENT }));
    await c.facade.updateQuota([], [config("eng", {}, { cpus: 6 })]);
    const web = await c.subscribe("web", { roles: ["eng/web"] });
    for (let i = 0; i < 3; i++) await c.allocate();
    assert.equal(scalar(web.sink.offers(), "cpus"), 4 + 2, "eng/web counts toward eng's limit: one whole agent and 2 cpus of another");
    await c.launch(web, web.sink.offers(), [commandTask("w1", "cpus:4;mem:512")]);
    web.sink.clear();
    for (let i = 0; i < 3; i++) await c.allocate();
    assert.ok(scalar(web.sink.offers(), "cpus") <= 2, "with 4 cpus in use, at most 2 more are offered");
    assert.equal(c.metric("allocator/mesos/quota/roles/eng/resources/cpus/limit"), 6);
  });

  it("QuotaAfterFailover: a master that starts from the registry enforces the quota it recorded", async () => {
    const first = (cluster = await Cluster.start({ agents: 2, agentResources: AGENT }));
    await first.facade.updateQuota([create(QuotaInfoSchema, { role: "eng", limits: parseResources("cpus:3").toProto() })]);
    const registrar = first.registrar;
    assert.ok(registrar.applied.some((op) => op.kind === "updateQuota"), "the quota went through the registrar");
    await first.stop();
    const c = (cluster = await Cluster.start({ agents: 2, agentResources: AGENT, registrar }));
    const eng = await c.subscribe("eng", { roles: ["eng"] });
    for (let i = 0; i < 3; i++) await c.allocate();
    assert.equal(scalar(eng.sink.offers(), "cpus"), 3, "the new master's allocator got the limit from the registry");
    assert.equal(c.metric("allocator/mesos/quota/roles/eng/resources/cpus/limit"), 3);
  });

  it("UpdateQuota is checked as a whole: a guarantee beyond the cluster needs force, limits nest, bad amounts are named", async () => {
    const c = (cluster = await Cluster.start({ agents: 2, agentResources: AGENT }));
    await assert.rejects(c.facade.updateQuota([], [config("big", { cpus: 9 })]), rejects(Code.FAILED_PRECONDITION, /guarantees of cpus \(9\) would exceed .* \(8\); set force/));
    await c.facade.updateQuota([], [config("big", { cpus: 9 })], true);
    await assert.rejects(c.facade.updateQuota([], [config("eng", {}, { cpus: 2 }), config("eng/web", {}, { cpus: 3 })]), rejects(Code.INVALID_ARGUMENT, /limit of cpus \(3\) exceeds the limit of its parent role 'eng' \(2\)/));
    await assert.rejects(c.facade.updateQuota([], [config("ops", { cpus: 2 }, { cpus: 1 })]), rejects(Code.INVALID_ARGUMENT, /guarantee of cpus \(2\) exceeds its limit \(1\)/));
    await assert.rejects(c.facade.updateQuota([], [config("ops", { cpus: -1 })]), rejects(Code.INVALID_ARGUMENT, /'cpus' must be a finite amount >= 0/));
    await assert.rejects(c.facade.updateQuota([], [config("*", { cpus: 1 })]), rejects(Code.INVALID_ARGUMENT, /default role/));
    await assert.rejects(c.facade.updateQuota([], []), rejects(Code.INVALID_ARGUMENT, /names no role/));
    // Nothing of the refused requests was recorded; lowering an over-committed guarantee needs no force.
    assert.deepEqual([...c.registrar.state().quotas.keys()], ["big"]);
    await c.facade.updateQuota([], [config("big", { cpus: 8.5 })]);
    await c.clock.settle();
    assert.equal(c.metric("allocator/mesos/quota/roles/big/resources/cpus/guarantee"), 8.5);
  });

  it("quota gauges appear in /metrics/snapshot and Prometheus, /quota shows configs in Mesos's shape, and removing the quota removes them", async () => {
    const c = (cluster = await Cluster.start({ agents: 2, agentResources: AGENT }));
    const http = await startMasterHttp({ host: "127.0.0.1", port: 0, master: c.facade, metrics: c.masterSystem.metrics, cluster: "test", version: "9.9.9", flags: {} });
    try {
      await c.facade.updateQuota([], [config("eng", { cpus: 1, mem: 256 }, { cpus: 2 })]);
      await c.clock.settle();
      const snapshot = (await (await fetch(`http://${http.address}/metrics/snapshot`)).json()) as Record<string, number>;
      assert.equal(snapshot["allocator/mesos/quota/roles/eng/resources/cpus/guarantee"], 1);
      assert.equal(snapshot["allocator/mesos/quota/roles/eng/resources/cpus/limit"], 2);
      assert.equal(snapshot["allocator/mesos/quota/roles/eng/resources/mem/guarantee"], 256);
      const prom = await (await fetch(`http://${http.address}/metrics`)).text();
      assert.match(prom, /^dcos_allocator_mesos_quota_roles_eng_resources_cpus_limit 2$/m);
      const quota = (await (await fetch(`http://${http.address}/quota`)).json()) as { configs: { role: string; guarantees: object; limits: object }[]; infos: unknown[] };
      assert.deepEqual(quota.configs.map((q) => [q.role, q.guarantees, q.limits]), [["eng", { cpus: { value: 1 }, mem: { value: 256 } }, { cpus: { value: 2 } }]]);
      assert.equal(quota.infos.length, 1);
      await c.facade.updateQuota([], [config("eng", {})]);
      await c.clock.settle();
      assert.equal(c.metric("allocator/mesos/quota/roles/eng/resources/cpus/guarantee"), undefined);
      assert.doesNotMatch(await (await fetch(`http://${http.address}/metrics`)).text(), /quota_roles_eng/);
      assert.deepEqual(((await (await fetch(`http://${http.address}/quota`)).json()) as { configs: unknown[] }).configs, []);
    } finally {
      await http.close();
    }
  });
});
