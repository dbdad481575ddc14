/**
 * Quota in the allocation round: scenarios on small snapshots, then seeded property tests
 * over random snapshots with nested roles, reservations, guarantees and limits
 * (DCOS_SEED=<n> replays another seed; a failure prints its seed and path).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { createPolicy, POLICY_NAMES } from "../../src/actors/allocator/policies.js";
import type { RoleQuota } from "../../src/actors/allocator/snapshot.js";
import type { AllocationSnapshot, RoundOffer, SnapshotFramework } from "../../src/actors/allocator/snapshot.js";
import { parseResources } from "../../src/resources/parse.js";
import { isRoleOrDescendant } from "../../src/resources/roles.js";
import { roundScalar } from "../../src/resources/scalar.js";
import { testSeed } from "../support/seed.js";

const drf = createPolicy("hierarchical-drf");
const SEED = testSeed(20261206);

function framework(id: string, roles: string[], held: [string, string][] = []): SnapshotFramework {
  return { id, roles, suppressedRoles: new Set(), active: true, allocated: new Map(held.map(([role, text]) => [role, parseResources(text).quantities()])), filters: new Map() };
}

function quota(guarantees: Record<string, number>, limits: Record<string, number> = {}): RoleQuota {
  return { guarantees: new Map(Object.entries(guarantees)), limits: new Map(Object.entries(limits)) };
}

function snapshot(agents: string[], frameworks: SnapshotFramework[], quotas: Record<string, RoleQuota>): AllocationSnapshot {
  return {
    now: 0,
    agents: agents.map((text, i) => ({ id: `agent-${i}`, total: parseResources(text), free: parseResources(text), active: true })),
    frameworks,
    weights: new Map(),
    quotas: new Map(Object.entries(quotas)),
  };
}

/** Sum of one scalar offered to each role. */
function offeredByRole(offers: readonly RoundOffer[], name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const o of offers) for (const [role, q] of o.resources.quantitiesByAllocationRole()) out.set(role, roundScalar((out.get(role) ?? 0) + q.get(name)));
  return out;
}

describe("Allocation round with quota (pure)", () => {
  it("gives a role with an unmet guarantee its share first, though its dominant share is the highest", () => {
    // 'batch' holds nothing, 'prod' already holds 4 cpus but is guaranteed 8: prod is served first.
    const s = snapshot(["cpus:4;mem:4096", "cpus:4;mem:4096", "cpus:4;mem:4096"], [framework("fw-batch", ["batch"]), framework("fw-prod", ["prod"], [["prod", "cpus:4;mem:1024"]])], {
      prod: quota({ cpus: 8 }),
    });
    const offers = drf.allocate(s);
    assert.equal(offers[0]!.frameworkId, "fw-prod", "the first offer of the round goes to the role with an unmet guarantee");
    assert.ok((offeredByRole(offers, "cpus").get("prod") ?? 0) >= 4, "prod gets the 4 cpus its guarantee still needs");
  });

  it("keeps the unmet guarantee of a role without frameworks back from the others (headroom)", () => {
    const s = snapshot(["cpus:4;mem:4096", "cpus:4;mem:4096"], [framework("fw-batch", ["batch"])], { prod: quota({ cpus: 6 }) });
    const offers = drf.allocate(s);
    assert.equal(offeredByRole(offers, "cpus").get("batch"), 2, "batch may take only the 2 cpus above prod's guarantee of 6");
    assert.equal(offeredByRole(offers, "mem").get("batch"), 8192, "memory nobody is guaranteed is all offered");
  });

  it("never offers a role more than its limit, even on an idle cluster", () => {
    const s = snapshot(["cpus:8;mem:8192", "cpus:8;mem:8192"], [framework("fw-a", ["eng/web"]), framework("fw-b", ["eng/web"])], { eng: quota({}, { cpus: 5 }) });
    const offers = drf.allocate(s);
    assert.equal(offeredByRole(offers, "cpus").get("eng/web"), 5, "eng/web counts toward eng's limit of 5 cpus");
    assert.equal(offeredByRole(offers, "mem").get("eng/web"), 8192, "the first agent's memory comes with the cpus; once at its cpus limit the role gets no cpus-less offers");
    assert.equal(offers.length, 1);
  });

  it("counts reservations toward limit and guarantee: reserved resources are consumed already", () => {
    const s = snapshot(["cpus:4;cpus(eng):4;mem:4096"], [framework("fw-eng", ["eng"])], { eng: quota({ cpus: 4 }, { cpus: 6 }) });
    const offers = drf.allocate(s);
    // The 4 reserved cpus meet the guarantee; the limit allows 2 more unreserved.
    assert.equal(offeredByRole(offers, "cpus").get("eng"), 6);
  });

  it("meets a sub-role's guarantee only with resources given to that sub-role", () => {
    const s = snapshot(["cpus:2;mem:1024", "cpus:2;mem:1024", "cpus:2;mem:1024"], [framework("fw-db", ["eng/db"]), framework("fw-web", ["eng/web"]), framework("fw-x", ["x"])], {
      eng: quota({ cpus: 4 }),
      "eng/web": quota({ cpus: 4 }),
    });
    const cpus = offeredByRole(drf.allocate(s), "cpus");
    assert.equal(cpus.get("eng/web"), 4, "eng/web's guarantee is met first, and it meets eng's");
    assert.equal(cpus.get("eng/db") ?? 0, 0, "eng/db's resources would not have met eng/web's guarantee");
    assert.equal(cpus.get("x"), 2, "the rest is shared by DRF: x holds the least");
  });
});

// ---- properties --------------------------------------------------------------------------

const ROLES = ["a", "b", "a/x", "a/y", "c"];
const amount = fc.integer({ min: 0, max: 6000 }).map((m) => m / 1000);
const quotaArb = fc.record({
  g: fc.option(amount, { nil: undefined }),
  gm: fc.option(fc.integer({ min: 0, max: 4096 }), { nil: undefined }),
  l: fc.option(amount, { nil: undefined }),
});

const caseArb = fc
  .record({
    agents: fc.array(
      fc.record({
        cpus: amount,
        mem: fc.integer({ min: 0, max: 4096 }),
        reserved: fc.option(fc.record({ role: fc.constantFrom(...ROLES), cpus: amount }), { nil: undefined }),
        active: fc.boolean(),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    frameworks: fc.array(
      fc.record({ roles: fc.subarray(ROLES, { minLength: 1, maxLength: 2 }), held: fc.array(fc.tuple(fc.constantFrom(...ROLES), amount), { maxLength: 2 }), filtered: fc.nat(9) }),
      { minLength: 1, maxLength: 6 },
    ),
    quotas: fc.dictionary(fc.constantFrom(...ROLES), quotaArb, { maxKeys: 4 }),
    policy: fc.constantFrom(...POLICY_NAMES),
  })
  .map(({ agents, frameworks, quotas, policy }) => {
    const snapshotAgents = agents.map((a, i) => {
      const text = [`cpus:${a.cpus}`, `mem:${a.mem}`, ...(a.reserved ? [`cpus(${a.reserved.role}):${a.reserved.cpus}`] : [])].join(";");
      return { id: `agent-${i}`, free: parseResources(text), total: parseResources(text), active: a.active };
    });
    const snapshotFrameworks: SnapshotFramework[] = frameworks.map((f, i) => ({
      id: `fw-${i}`,
      roles: f.roles,
      suppressedRoles: new Set(),
      active: true,
      allocated: new Map(f.held.filter(([r]) => f.roles.includes(r)).map(([role, cpus]) => [role, parseResources(`cpus:${cpus}`).quantities()])),
      // Some frameworks refuse one agent.
      filters: f.filtered < agents.length ? new Map([[`agent-${f.filtered}`, Number.MAX_SAFE_INTEGER]]) : new Map(),
    }));
    const roleQuotas = new Map<string, RoleQuota>();
    for (const [role, q] of Object.entries(quotas)) {
      const guarantees = new Map<string, number>();
      const limits = new Map<string, number>();
      if (q.g !== undefined) guarantees.set("cpus", q.g);
      if (q.gm !== undefined) guarantees.set("mem", q.gm);
      if (q.l !== undefined) limits.set("cpus", Math.max(q.l, q.g ?? 0));
      roleQuotas.set(role, { guarantees, limits });
    }
    const snapshot: AllocationSnapshot = { now: 0, agents: snapshotAgents, frameworks: snapshotFrameworks, weights: new Map(), quotas: roleQuotas };
    return { snapshot, policy };
  });

/** What role's subtree consumes of name: allocations plus free reservations, after the offers. */
function consumption(s: AllocationSnapshot, offers: readonly RoundOffer[], role: string, name: string): number {
  let sum = 0;
  for (const fw of s.frameworks) for (const [r, q] of fw.allocated) if (isRoleOrDescendant(r, role)) sum += q.get(name);
  const left = new Map(s.agents.map((a) => [a.id, a.free]));
  for (const o of offers) {
    left.set(o.agentId, left.get(o.agentId)!.subtract(o.taken));
    for (const [r, q] of o.resources.quantitiesByAllocationRole()) if (isRoleOrDescendant(r, role)) sum += q.get(name);
  }
  for (const free of left.values()) for (const r of free.reservationRoles()) if (isRoleOrDescendant(r, role)) sum += free.reserved(r).scalar(name);
  return roundScalar(sum);
}

/** Σ over top-level roles of the unmet guarantee (a role's need is the larger of its own and its children's), reference version. */
function requiredHeadroom(s: AllocationSnapshot, offers: readonly RoundOffer[], name: string): number {
  const quotas = s.quotas!;
  const need = (role: string): number => {
    const children = [...new Set([...quotas.keys()].flatMap((r) => (r.startsWith(`${role}/`) ? [`${role}/${r.slice(role.length + 1).split("/")[0]}`] : [])))];
    const own = Math.max(0, (quotas.get(role)?.guarantees.get(name) ?? 0) - consumption(s, offers, role, name));
    return Math.max(own, children.reduce((sum, c) => sum + need(c), 0));
  };
  const tops = new Set([...quotas.keys()].map((r) => r.split("/")[0]!));
  return roundScalar([...tops].reduce((sum, r) => sum + need(r), 0));
}

function freeUnreserved(s: AllocationSnapshot, offers: readonly RoundOffer[], name: string): number {
  let sum = 0;
  for (const a of s.agents) {
    if (!a.active) continue;
    let free = a.free;
    for (const o of offers) if (o.agentId === a.id) free = free.subtract(o.taken);
    sum += free.unreserved().scalar(name);
  }
  return roundScalar(sum);
}

const runs = { numRuns: 300, seed: SEED };

describe("Allocation round with quota: properties", () => {
  it("never offers a role (or any of its ancestors) beyond its limit", () => {
    fc.assert(
      fc.property(caseArb, ({ snapshot, policy }) => {
        const offers = createPolicy(policy).allocate(snapshot);
        for (const [role, q] of snapshot.quotas!) {
          for (const [name, limit] of q.limits) {
            const before = consumption(snapshot, [], role, name);
            const after = consumption(snapshot, offers, role, name);
            assert.ok(after <= Math.max(limit, before), `${role} consumes ${after} ${name} after the round, its limit is ${limit} (before: ${before})`);
          }
        }
      }),
      runs,
    );
  });

  it("serves a role with an unmet guarantee and demand first: it ends met, or nothing it could take is left", () => {
    fc.assert(
      fc.property(caseArb, ({ snapshot, policy }) => {
        const offers = createPolicy(policy).allocate(snapshot);
        const needy = new Set<string>();
        for (const [role, q] of snapshot.quotas!) {
          for (const [name, g] of q.guarantees) {
            if (consumption(snapshot, [], role, name) >= g) continue;
            needy.add(role);
            // A role whose sub-roles have quota of their own may keep its guarantee for them.
            if ([...snapshot.quotas!.keys()].some((sub) => sub !== role && isRoleOrDescendant(sub, role))) continue;
            if (consumption(snapshot, offers, role, name) >= g) continue;
            // Unmet after the round: no framework of its subtree may have been able to take more of name.
            for (const fw of snapshot.frameworks) {
              const myRoles = fw.roles.filter((r) => isRoleOrDescendant(r, role));
              if (myRoles.length === 0) continue;
              for (const a of snapshot.agents) {
                if (!a.active || (fw.filters.get(a.id) ?? 0) > snapshot.now) continue;
                let free = a.free;
                for (const o of offers) if (o.agentId === a.id) free = free.subtract(o.taken);
                const left = free.unreserved().scalar(name);
                const limited = myRoles.every((r) => ["cpus", "mem"].some((n) => limitReached(snapshot, offers, r, n)));
                assert.ok(left === 0 || limited, `${role} is guaranteed ${g} ${name} but has ${consumption(snapshot, offers, role, name)}, while ${a.id} still has ${left} free that ${fw.id} could take`);
              }
            }
          }
        }
        // Before the others: no unreserved offer that lowers an unmet guarantee comes after an
        // unreserved offer to a role with nothing unmet on its path.
        let other: RoundOffer | undefined;
        offers.forEach((o, i) => {
          const before = offers.slice(0, i);
          const unreserved = o.resources.unreserved();
          if (unreserved.isEmpty()) return;
          const roles = unreserved.allocationRoles();
          const unmet = (q: string, name: string) => (snapshot.quotas!.get(q)!.guarantees.get(name) ?? 0) > consumption(snapshot, before, q, name);
          const helps = [...snapshot.quotas!.keys()].some((q) =>
            [...snapshot.quotas!.get(q)!.guarantees.keys()].some((name) => unmet(q, name) && roles.some((r) => isRoleOrDescendant(r, q) && unreserved.allocatedTo(r).scalar(name) > 0)),
          );
          const needyPath = [...snapshot.quotas!.keys()].some((q) => roles.some((r) => isRoleOrDescendant(r, q)) && [...snapshot.quotas!.get(q)!.guarantees.keys()].some((name) => unmet(q, name)));
          if (helps) assert.equal(other, undefined, `${o.frameworkId} was offered toward an unmet guarantee after ${other?.frameworkId} (no unmet guarantee) was served`);
          else if (!needyPath) other ??= o;
        });
      }),
      runs,
    );
  });

  it("never hands the sum of unmet guarantees to other roles: the surplus headroom never shrinks below zero", () => {
    fc.assert(
      fc.property(caseArb, ({ snapshot, policy }) => {
        const offers = createPolicy(policy).allocate(snapshot);
        for (const name of ["cpus", "mem"]) {
          const before = freeUnreserved(snapshot, [], name) - requiredHeadroom(snapshot, [], name);
          const after = freeUnreserved(snapshot, offers, name) - requiredHeadroom(snapshot, offers, name);
          assert.ok(
            roundScalar(after) >= Math.min(0, roundScalar(before)),
            `${name}: free unreserved minus unmet guarantees went from ${roundScalar(before)} to ${roundScalar(after)}`,
          );
        }
      }),
      runs,
    );
  });
});

/** Whether some role on r's path (r or an ancestor with quota) is at its limit of name after the offers. */
function limitReached(s: AllocationSnapshot, offers: readonly RoundOffer[], role: string, name: string): boolean {
  for (const [qRole, q] of s.quotas!) {
    const limit = q.limits.get(name);
    if (limit !== undefined && isRoleOrDescendant(role, qRole) && consumption(s, offers, qRole, name) >= limit) return true;
  }
  return false;
}

