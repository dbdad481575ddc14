import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AllocatorActor } from "../../src/actors/allocator/allocator-actor.js";
import type { OfferDecision } from "../../src/actors/allocator/allocator.js";
import { createPolicy, POLICY_NAMES } from "../../src/actors/allocator/policies.js";
import type { AllocationSnapshot, RoundOffer, SnapshotAgent, SnapshotFramework } from "../../src/actors/allocator/snapshot.js";
import { Quantities } from "../../src/resources/quantities.js";
import { parseResources } from "../../src/resources/parse.js";
import { allocationRole, reservationRole } from "../../src/resources/resource.js";
import { Resources } from "../../src/resources/resources.js";
import { isRoleOrDescendant } from "../../src/resources/roles.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { ActorSystem } from "../../src/runtime/system.js";

const ROLES = ["*", "a", "b", "a/x"];
const RESERVABLE = ["a", "b", "a/x"];
const NOW = 1_000_000;

const amount = fc.integer({ min: 0, max: 8000 }).map((m) => m / 1000);
const agentText = fc
  .record({
    cpus: amount,
    mem: fc.integer({ min: 0, max: 4096 }),
    portsBegin: fc.integer({ min: 31000, max: 31010 }),
    portsLen: fc.integer({ min: 0, max: 20 }),
    reserved: fc.array(fc.record({ role: fc.constantFrom(...RESERVABLE), cpus: amount, ports: fc.boolean() }), { maxLength: 3 }),
  })
  .map(({ cpus, mem, portsBegin, portsLen, reserved }) => {
    const parts = [`cpus:${cpus}`, `mem:${mem}`, `ports:[${portsBegin}-${portsBegin + portsLen}]`];
    reserved.forEach((r, i) => {
      parts.push(`cpus(${r.role}):${r.cpus}`);
      if (r.ports) parts.push(`ports(${r.role}):[${32000 + 100 * i}-${32010 + 100 * i}]`);
    });
    return parts.join(";");
  });

const snapshotArb = fc
  .record({
    agents: fc.array(fc.record({ free: agentText, used: agentText, active: fc.boolean() }), { minLength: 1, maxLength: 8 }),
    frameworks: fc.array(
      fc.record({
        roles: fc.subarray(ROLES, { minLength: 1 }),
        suppressed: fc.subarray(ROLES),
        active: fc.boolean(),
        held: fc.array(fc.tuple(fc.constantFrom(...ROLES), amount), { maxLength: 2 }),
        filters: fc.array(fc.tuple(fc.nat(7), fc.integer({ min: -5000, max: 5000 })), { maxLength: 3 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
    weights: fc.array(fc.tuple(fc.constantFrom(...ROLES), fc.integer({ min: 1, max: 5 })), { maxLength: 3 }),
    policy: fc.constantFrom(...POLICY_NAMES),
  })
  .map(({ agents, frameworks, weights, policy }) => {
    const snapshotAgents: SnapshotAgent[] = agents.map((a, i) => {
      const free = parseResources(a.free);
      return { id: `agent-${i}`, free, total: free.add(parseResources(a.used)), active: a.active };
    });
    const snapshotFrameworks: SnapshotFramework[] = frameworks.map((f, i) => ({
      id: `fw-${i}`,
      roles: f.roles,
      suppressedRoles: new Set(f.suppressed),
      active: f.active,
      allocated: new Map(f.held.map(([role, cpus]) => [role, Quantities.of([["cpus", cpus]])])),
      filters: new Map(f.filters.map(([agent, dt]) => [`agent-${agent}`, NOW + dt])),
    }));
    const snapshot: AllocationSnapshot = { now: NOW, agents: snapshotAgents, frameworks: snapshotFrameworks, weights: new Map(weights) };
    return { snapshot, policy };
  });

const runs = { numRuns: 400 };

describe("Allocation round properties", () => {
  it("never offers a resource twice and never more than an agent has free", () => {
    fc.assert(
      fc.property(snapshotArb, ({ snapshot, policy }) => {
        const offers = createPolicy(policy).allocate(snapshot);
        for (const agent of snapshot.agents) {
          let left = agent.free;
          for (const o of offers.filter((x) => x.agentId === agent.id)) {
            assert.ok(left.contains(o.taken), `${o.frameworkId} was offered ${o.taken} on ${agent.id} where only ${left} was left`);
            assert.ok(o.resources.unallocated().equals(o.taken), "what is offered is what is taken");
            left = left.subtract(o.taken);
          }
        }
      }),
      runs,
    );
  });

  it("offers every reserved resource to its role (or a role nested below it) only", () => {
    fc.assert(
      fc.property(snapshotArb, ({ snapshot, policy }) => {
        for (const o of createPolicy(policy).allocate(snapshot)) {
          const fw = snapshot.frameworks.find((f) => f.id === o.frameworkId)!;
          for (const r of o.resources) {
            const alloc = allocationRole(r);
            assert.ok(alloc !== undefined && fw.roles.includes(alloc), `allocated to ${alloc}, not one of ${fw.roles}`);
            const reservedTo = reservationRole(r);
            if (reservedTo !== "*") assert.ok(isRoleOrDescendant(alloc, reservedTo), `${r.name}(${reservedTo}) went to role ${alloc}`);
          }
        }
      }),
      runs,
    );
  });

  it("offers only to active frameworks, for unsuppressed roles, on active agents without a live filter, once per agent", () => {
    fc.assert(
      fc.property(snapshotArb, ({ snapshot, policy }) => {
        const offers = createPolicy(policy).allocate(snapshot);
        const seen = new Set<string>();
        for (const o of offers) {
          const fw = snapshot.frameworks.find((f) => f.id === o.frameworkId)!;
          const agent = snapshot.agents.find((a) => a.id === o.agentId)!;
          assert.ok(fw.active && agent.active);
          assert.ok((fw.filters.get(agent.id) ?? 0) <= snapshot.now, "filtered agent offered");
          for (const role of o.resources.allocationRoles()) assert.ok(!fw.suppressedRoles.has(role), `suppressed role ${role} offered`);
          const key = `${o.frameworkId}/${o.agentId}`;
          assert.ok(!seen.has(key), `two offers for ${key}`);
          seen.add(key);
        }
      }),
      runs,
    );
  });

  it("leaves nothing offerable unoffered when an unfiltered, unsuppressed framework could take it", () => {
    fc.assert(
      fc.property(snapshotArb, ({ snapshot, policy }) => {
        const offers: RoundOffer[] = createPolicy(policy).allocate(snapshot);
        for (const agent of snapshot.agents.filter((a) => a.active)) {
          let left = agent.free;
          for (const o of offers) if (o.agentId === agent.id) left = left.subtract(o.taken);
          const unreserved = left.unreserved();
          if (unreserved.quantities().isEmpty()) continue;
          const taker = snapshot.frameworks.find(
            (f) => f.active && (f.filters.get(agent.id) ?? 0) <= snapshot.now && f.roles.some((r) => !f.suppressedRoles.has(r)),
          );
          assert.equal(taker, undefined, `${unreserved} left on ${agent.id} though ${taker?.id} could take it`);
        }
      }),
      runs,
    );
  });
});

describe("Allocator actor properties", () => {
  type Op =
    | { kind: "round" }
    | { kind: "decline"; index: number; refuse: number }
    | { kind: "removeFramework"; fw: number }
    | { kind: "addFramework"; fw: number; role: string }
    | { kind: "removeAgent"; agent: number }
    | { kind: "suppress" | "revive"; fw: number }
    | { kind: "time"; ms: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant<Op>({ kind: "round" }),
    fc.record({ kind: fc.constant("decline" as const), index: fc.nat(50), refuse: fc.constantFrom(0, 0, 2, 10) }),
    fc.record({ kind: fc.constant("removeFramework" as const), fw: fc.nat(3) }),
    fc.record({ kind: fc.constant("addFramework" as const), fw: fc.nat(3), role: fc.constantFrom(...ROLES) }),
    fc.record({ kind: fc.constant("removeAgent" as const), agent: fc.nat(4) }),
    fc.record({ kind: fc.constantFrom("suppress" as const, "revive" as const), fw: fc.nat(3) }),
    fc.record({ kind: fc.constant("time" as const), ms: fc.integer({ min: 0, max: 4000 }) }),
  );

  it("keeps its books balanced: free plus what is held is every agent's total, whatever the call sequence", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(agentText, { minLength: 1, maxLength: 5 }), fc.array(op, { maxLength: 40 }), fc.constantFrom(...POLICY_NAMES), async (agents, ops, policy) => {
        const clock = new ManualClock();
        const system = new ActorSystem({ clock });
        const actor = system.spawn(new AllocatorActor("allocator", createPolicy(policy), 1000, undefined));
        const outstanding: OfferDecision[] = [];
        const totals = new Map<string, Resources>();
        try {
          await system.dispatch(actor, (a) => {
            a.setOfferCallback((d) => {
              outstanding.push(...d);
            });
            agents.forEach((text, i) => {
              const total = parseResources(text);
              totals.set(`agent-${i}`, total);
              a.addAgent(`agent-${i}`, { hostname: `h${i}`, total: total.toProto(), active: true }, new Map());
            });
            for (let i = 0; i < 2; i++) a.addFramework(`fw-${i}`, { roles: [ROLES[i + 1]!, "*"], active: true }, new Map());
          });
          for (const o of ops) {
            await system.dispatch(actor, (a) => {
              switch (o.kind) {
                case "round":
                  a.allocate();
                  break;
                case "decline": {
                  const d = outstanding.splice(o.index % Math.max(1, outstanding.length), 1)[0];
                  if (d) a.recoverResources(d.frameworkId, d.agentId, d.resources, o.refuse);
                  break;
                }
                case "removeFramework":
                  a.removeFramework(`fw-${o.fw}`);
                  for (let i = outstanding.length - 1; i >= 0; i--) if (outstanding[i]!.frameworkId === `fw-${o.fw}`) outstanding.splice(i, 1);
                  break;
                case "addFramework":
                  a.addFramework(`fw-${o.fw}`, { roles: [o.role], active: true }, new Map());
                  break;
                case "removeAgent":
                  a.removeAgent(`agent-${o.agent}`);
                  totals.delete(`agent-${o.agent}`);
                  for (let i = outstanding.length - 1; i >= 0; i--) if (outstanding[i]!.agentId === `agent-${o.agent}`) outstanding.splice(i, 1);
                  break;
                case "suppress":
                  a.suppressOffers(`fw-${o.fw}`);
                  break;
                case "revive":
                  a.reviveOffers(`fw-${o.fw}`);
                  break;
                case "time":
                  break;
              }
            });
            if (o.kind === "time") await clock.advance(o.ms);
            await clock.settle();
            const snapshot = await system.dispatch(actor, (a) => a.snapshot());
            for (const agent of snapshot.agents) {
              let sum = agent.free;
              for (const d of outstanding) if (d.agentId === agent.id) sum = sum.add(Resources.of(d.resources).unallocated());
              assert.ok(sum.equals(totals.get(agent.id)!), `${agent.id}: free ${agent.free} + held ≠ total ${totals.get(agent.id)}`);
            }
            // The kept per-role sums (what a round reads) are the frameworks' holdings summed.
            const summed = new Map<string, Quantities>();
            for (const fw of snapshot.frameworks) for (const [role, q] of fw.allocated) (summed.get(role) ?? summed.set(role, new Quantities()).get(role)!).addAll(q);
            // Compared name by name: the order a Quantities met its names in is not part of its value.
            const canon = (role: string, q: Quantities): string => `${role}=${q.entries().sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, v]) => `${n}:${v}`).join("; ")}`;
            const kept = [...(snapshot.roleAllocated ?? [])].map(([role, q]) => canon(role, q)).sort();
            assert.deepEqual(kept, [...summed].filter(([, q]) => !q.isEmpty()).map(([role, q]) => canon(role, q)).sort());
          }
        } finally {
          await system.stop();
        }
      }),
      { numRuns: 60 },
    );
  });
});
