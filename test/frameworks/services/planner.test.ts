import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { create } from "@bufbuild/protobuf";
import { appSpec, normalizeApp } from "../../../src/frameworks/services/app-definition.js";
import { capacity, isHealthy, planApp } from "../../../src/frameworks/services/app-plan.js";
import { violatedConstraint } from "../../../src/frameworks/services/constraints.js";
import { launchRound } from "../../../src/frameworks/services/launch-round.js";
import type { Instance } from "../../../src/frameworks/services/services-state.js";
import { OfferSchema, type Offer } from "../../../src/gen/dcos/v1/offers_pb.js";
import { parseResources } from "../../../src/resources/parse.js";
import { Value_Type } from "../../../src/gen/dcos/v1/common_pb.js";

const V1 = "2026-01-01T00:00:00.000Z";
const V2 = "2026-01-02T00:00:00.000Z";

function inst(id: string, version: string, over: Partial<Instance> = {}): Instance {
  return { id, appId: "/a", version, agentId: "ag", host: "h", ports: [], state: "running", goal: "running", healthy: true, stagedAt: 0, ...over };
}

const specOf = (fields: Record<string, unknown>) => appSpec(normalizeApp({ id: "/a", cmd: "x", healthChecks: [{ protocol: "MESOS_HTTP" }], ...fields }));

/**
 * A tiny world around planApp: each step the plan is applied (kills mark goal=stopped,
 * launches add starting instances); a random instance may finish dying or become healthy.
 */
function simulateRestart(n: number, minH: number, maxO: number, seed: number, events: number[]) {
  const spec = specOf({ instances: n, upgradeStrategy: { minimumHealthCapacity: minH, maximumOverCapacity: maxO } });
  const { maxAlive, minHealthy } = capacity(spec);
  let instances: Instance[] = Array.from({ length: n }, (_, k) => inst(`old-${k}`, V1, { stagedAt: k }));
  const initialHealthy = n;
  let next = 0;
  const exception = maxAlive === n && minHealthy === n;
  for (let step = 0; step < 400; step++) {
    const plan = planApp({ spec, version: V2, removing: false }, instances, 1000 + step);
    for (const k of plan.kill) instances.find((i) => i.id === k.id)!.goal = "stopped";
    for (let l = 0; l < plan.launch; l++) instances.push(inst(`new-${next++}`, V2, { state: "starting", healthy: undefined, stagedAt: 100 + step }));
    const alive = instances.length;
    assert.ok(alive <= maxAlive, `seed ${seed} step ${step}: ${alive} alive > max ${maxAlive}`);
    const healthy = instances.filter((i) => isHealthy(i, true)).length;
    if (!exception) assert.ok(healthy >= Math.min(minHealthy, initialHealthy), `seed ${seed} step ${step}: ${healthy} healthy < min ${minHealthy}`);
    if (plan.converged) return step;
    // The world moves: one thing happens, chosen by the test's random stream.
    const pick = events[step % events.length]!;
    const dying = instances.filter((i) => i.goal === "stopped");
    const starting = instances.filter((i) => i.state === "starting");
    if (pick % 2 === 0 && dying.length > 0) {
      const d = dying[pick % dying.length]!;
      instances = instances.filter((i) => i !== d);
    } else if (starting.length > 0) {
      Object.assign(starting[pick % starting.length]!, { state: "running", healthy: true });
    } else if (dying.length > 0) {
      instances = instances.filter((i) => i !== dying[0]);
    }
  }
  assert.fail(`seed ${seed}: restart of ${n} (min ${minH}, over ${maxO}) did not converge in 400 steps`);
}

describe("services planner (pure)", () => {
  it("a rolling restart never exceeds instances × (1 + maximumOverCapacity) alive, never drops below minimumHealthCapacity healthy, and converges", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(0, 0.25, 0.5, 0.75, 1),
        fc.constantFrom(0, 0.2, 0.5, 1),
        fc.array(fc.nat(1000), { minLength: 1, maxLength: 50 }),
        fc.nat(),
        (n, minH, maxO, events, seed) => {
          simulateRestart(n, minH, maxO, seed, events);
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });

  it("scales up and down: launches the missing, kills the extras unhealthy first, then youngest", () => {
    const spec = specOf({ instances: 2 });
    const up = planApp({ spec, version: V1, removing: false }, [inst("a", V1)], 0);
    assert.equal(up.launch, 1);
    const down = planApp(
      { spec, version: V1, removing: false },
      [inst("old", V1, { stagedAt: 1 }), inst("young", V1, { stagedAt: 9 }), inst("sick", V1, { healthy: false, stagedAt: 0 }), inst("mid", V1, { stagedAt: 5 })],
      0,
    );
    assert.deepEqual(down.kill.map((k) => k.id), ["sick", "young"]);
    const oldest = planApp({ spec: { ...spec, killSelection: "OLDEST_FIRST" }, version: V1, removing: false }, [inst("old", V1, { stagedAt: 1 }), inst("young", V1, { stagedAt: 9 }), inst("mid", V1, { stagedAt: 5 })], 0);
    assert.deepEqual(oldest.kill.map((k) => k.id), ["old"]);
  });

  it("replaces an instance unreachable for inactiveAfterSeconds, forgets it after expungeAfterSeconds, and kills the extra when it returns", () => {
    const spec = specOf({ instances: 2, unreachableStrategy: { inactiveAfterSeconds: 60, expungeAfterSeconds: 120 } });
    const lost = inst("u", V1, { state: "unreachable", unreachableSince: 0 });
    const t = { spec, version: V1, removing: false };
    assert.equal(planApp(t, [inst("a", V1), lost], 30_000).launch, 0, "not yet inactive");
    assert.equal(planApp(t, [inst("a", V1), lost], 60_000).launch, 1, "inactive: replaced");
    assert.deepEqual(planApp(t, [inst("a", V1), inst("b", V1), lost], 120_000).expunge, ["u"]);
    const back = planApp(t, [inst("a", V1, { stagedAt: 1 }), inst("b", V1, { stagedAt: 5 }), inst("u", V1, { stagedAt: 0 })], 130_000);
    assert.equal(back.kill.length, 1, "one extra is killed when the unreachable instance comes back");
  });

  it("removing an app kills every instance and converges once they are gone", () => {
    const spec = specOf({ instances: 3 });
    const p = planApp({ spec, version: V1, removing: true }, [inst("a", V1), inst("b", V1, { goal: "stopped" })], 0);
    assert.deepEqual(p.kill.map((k) => k.id), ["a"]);
    assert.equal(p.converged, false);
    assert.equal(planApp({ spec, version: V1, removing: true }, [], 0).converged, true);
  });
});

function offer(id: string, hostname: string, resources: string, attributes: Record<string, string> = {}): Offer {
  return create(OfferSchema, {
    id: { value: id },
    agentId: { value: `agent-${hostname}` },
    hostname,
    resources: [...parseResources(resources)],
    attributes: Object.entries(attributes).map(([name, value]) => ({ name, type: Value_Type.TEXT, text: { value } })),
  });
}

describe("services offer matching (pure)", () => {
  it("never violates UNIQUE, MAX_PER, CLUSTER or GROUP_BY constraints, whatever the offers", () => {
    const constraints = [
      [["hostname", "UNIQUE"]],
      [["rack", "MAX_PER", "2"]],
      [["rack", "CLUSTER", "r1"]],
      [["rack", "GROUP_BY", "3"]],
      [["hostname", "LIKE", "h[0-4]"]],
      [["rack", "UNLIKE", "r2"]],
    ];
    fc.assert(
      fc.property(fc.constantFrom(...constraints), fc.array(fc.record({ host: fc.integer({ min: 0, max: 9 }), rack: fc.integer({ min: 0, max: 3 }), cpus: fc.integer({ min: 0, max: 8 }) }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 20 }), (cs, agents, count) => {
        const seen = new Set<number>();
        const offers = agents.filter((a) => !seen.has(a.host) && seen.add(a.host)).map((a, i) => offer(`o${i}`, `h${a.host}`, `cpus:${a.cpus};mem:4096;ports:[31000-31010]`, { rack: `r${a.rack}` }));
        const spec = appSpec(normalizeApp({ id: "/c", cmd: "x", cpus: 1, mem: 16, instances: count, constraints: cs }));
        const r = launchRound([{ appId: "/c", spec, version: V1, count, roles: ["*"], placed: [] }], offers);
        const placed: { hostname: string; attributes: Record<string, string> }[] = [];
        for (const l of r.launches) {
          const o = offers.find((x) => x === l.offer)!;
          const p = { hostname: o.hostname, attributes: { rack: o.attributes[0]!.text!.value } };
          assert.equal(violatedConstraint(spec.constraints, p, placed), undefined, `launch on ${p.hostname} broke ${JSON.stringify(cs)} after ${JSON.stringify(placed)}`);
          placed.push(p);
        }
        assert.ok(r.launches.length <= count);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("counts why offers were declined per app: cpus, memory, ports, role, constraint", () => {
    const small = offer("o1", "h1", "cpus:0.5;mem:4096;ports:[31000-31010]");
    const noMem = offer("o2", "h2", "cpus:4;mem:10;ports:[31000-31010]");
    const noPorts = offer("o3", "h3", "cpus:4;mem:4096");
    const reserved = offer("o4", "h4", "cpus(ops):4;mem(ops):4096");
    const spec = appSpec(normalizeApp({ id: "/w", cmd: "x", cpus: 1, mem: 64, instances: 1, portDefinitions: [{ port: 0 }] }));
    const r = launchRound([{ appId: "/w", spec, version: V1, count: 1, roles: ["*"], placed: [] }], [small, noMem, noPorts, reserved]);
    assert.equal(r.launches.length, 0);
    assert.deepEqual(r.stats.get("/w")?.reasons, { InsufficientCpus: 1, InsufficientMemory: 1, InsufficientPorts: 1, UnfulfilledRole: 1 });
    const uniq = appSpec(normalizeApp({ id: "/u", cmd: "x", cpus: 0.1, mem: 1, instances: 2, constraints: [["hostname", "UNIQUE"]] }));
    const r2 = launchRound([{ appId: "/u", spec: uniq, version: V1, count: 2, roles: ["*"], placed: [] }], [offer("o5", "h5", "cpus:4;mem:4096;ports:[31000-31010]")]);
    assert.equal(r2.launches.length, 1);
    assert.equal(r2.stats.get("/u")?.reasons.UnfulfilledConstraint, undefined, "the offer was used, so it is not counted as declined");
  });

  it("gives each instance distinct ports from the offer and the exact ones with requirePorts", () => {
    const spec = appSpec(normalizeApp({ id: "/p", cmd: "x", cpus: 0.1, mem: 1, instances: 3, portDefinitions: [{ port: 0 }, { port: 0 }] }));
    const r = launchRound([{ appId: "/p", spec, version: V1, count: 3, roles: ["*"], placed: [] }], [offer("o", "h", "cpus:4;mem:4096;ports:[31000-31005]")]);
    const all = r.launches.flatMap((l) => l.ports);
    assert.equal(all.length, 6);
    assert.equal(new Set(all).size, 6);
    const fixed = appSpec(normalizeApp({ id: "/f", cmd: "x", cpus: 0.1, mem: 1, instances: 2, requirePorts: true, portDefinitions: [{ port: 31003 }] }));
    const r2 = launchRound([{ appId: "/f", spec: fixed, version: V1, count: 2, roles: ["*"], placed: [] }], [offer("o", "h", "cpus:4;mem:4096;ports:[31000-31005]")]);
    assert.deepEqual(r2.launches.map((l) => l.ports), [[31003]], "the second instance cannot get port 31003 on the same agent");
    assert.equal(r2.stats.get("/f")?.reasons.InsufficientPorts, undefined);
  });
});
