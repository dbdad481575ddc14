import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Heap, type HeapItem } from "../../src/runtime/heap.js";
import { createPolicy } from "../../src/actors/allocator/policies.js";
import type { AllocationSnapshot, SnapshotFramework } from "../../src/actors/allocator/snapshot.js";
import { parseResources } from "../../src/resources/parse.js";

function framework(id: string, roles: string[], held: [string, string][] = []): SnapshotFramework {
  return {
    id,
    roles,
    suppressedRoles: new Set(),
    active: true,
    allocated: new Map(held.map(([role, text]) => [role, parseResources(text).quantities()])),
    filters: new Map(),
  };
}

function snapshot(agents: string[], frameworks: SnapshotFramework[], weights: [string, number][] = []): AllocationSnapshot {
  return {
    now: 0,
    agents: agents.map((text, i) => ({ id: `agent-${i}`, total: parseResources(text), free: parseResources(text), active: true })),
    frameworks,
    weights: new Map(weights),
  };
}

const drf = createPolicy("hierarchical-drf");

describe("Allocation round (pure)", () => {
  it("starts with the framework holding the lowest dominant share", () => {
    // fw-a holds half the cpus, fw-b a quarter of the memory: fw-b's dominant share is lower.
    const s = snapshot(["cpus:4;mem:4096", "cpus:4;mem:4096"], [framework("fw-a", ["r"], [["r", "cpus:4"]]), framework("fw-b", ["r"], [["r", "mem:2048"]])]);
    const offers = drf.allocate(s);
    assert.deepEqual(
      offers.map((o) => [o.frameworkId, o.agentId]),
      [
        ["fw-b", "agent-0"],
        ["fw-a", "agent-1"],
      ],
    );
  });

  it("compares roles by dominant share over the resources they hold (DRF, not just cpus)", () => {
    // role mem-heavy holds 75% of the memory, role cpu-light 25% of the cpus.
    const s = snapshot(["cpus:8;mem:8192"], [framework("fw-m", ["mem-heavy"], [["mem-heavy", "mem:6144"]]), framework("fw-c", ["cpu-light"], [["cpu-light", "cpus:2"]])]);
    assert.deepEqual(
      drf.allocate(s).map((o) => o.frameworkId),
      ["fw-c"],
    );
  });

  it("shares between sibling roles first, then inside a parent role (nested role DRF)", () => {
    const agents = Array.from({ length: 6 }, () => "cpus:1;mem:1024");
    const s = snapshot(agents, [framework("fw-ea", ["eng/a"]), framework("fw-eb", ["eng/b"]), framework("fw-ops", ["ops"])]);
    const count = new Map<string, number>();
    for (const o of drf.allocate(s)) count.set(o.frameworkId, (count.get(o.frameworkId) ?? 0) + 1);
    // eng and ops split the cluster in half; eng/a and eng/b split eng's half.
    assert.deepEqual(count, new Map([["fw-ea", 2], ["fw-ops", 3], ["fw-eb", 1]]));
  });

  it("counts a parent role's own frameworks as one more child beside its sub-roles", () => {
    const agents = Array.from({ length: 4 }, () => "cpus:1");
    const s = snapshot(agents, [framework("fw-eng", ["eng"]), framework("fw-web", ["eng/web"]), framework("fw-ops", ["ops"])], [["ops", 2]]);
    const count = new Map<string, number>();
    for (const o of drf.allocate(s)) count.set(o.frameworkId, (count.get(o.frameworkId) ?? 0) + 1);
    // ops weighs 2 against eng's 1: ops gets 2 of the first 3 agents... and the 4th goes to eng.
    assert.equal((count.get("fw-eng") ?? 0) + (count.get("fw-web") ?? 0), 2);
    assert.equal(count.get("fw-ops"), 2);
    assert.equal(count.get("fw-eng"), 1, "eng's own framework competes with eng/web inside eng");
  });

  it("gives resources reserved to a parent role to the frameworks of its nested roles", () => {
    const s = snapshot(["cpus(eng):2;cpus:1"], [framework("fw-web", ["eng/web"]), framework("fw-ops", ["ops"], [["ops", "cpus:0.5"]])]);
    const offers = drf.allocate(s);
    assert.deepEqual(
      offers.map((o) => `${o.frameworkId}: ${o.resources}`),
      // The reservation counts toward eng's share, so the unreserved cpu goes to ops.
      ["fw-web: cpus(eng)@eng/web:2", "fw-ops: cpus@ops:1"],
    );
  });

  it("offers a framework its reserved and unreserved resources of one agent as one offer", () => {
    const s = snapshot(["cpus:1;cpus(ops):2;ports(ops):[100-200]"], [framework("fw-ops", ["ops"])]);
    const offers = drf.allocate(s);
    assert.equal(offers.length, 1);
    assert.equal(offers[0]!.resources.toString(), "cpus(ops)@ops:2; ports(ops)@ops:[100-200]; cpus@ops:1");
  });

  it("does not offer ports or sets without any scalar amount", () => {
    const s = snapshot(["ports:[31000-32000];zones:{a}"], [framework("fw", ["*"])]);
    assert.deepEqual(drf.allocate(s), []);
  });

  it("is deterministic and leaves the snapshot untouched", () => {
    const make = (): AllocationSnapshot =>
      snapshot(
        Array.from({ length: 20 }, (_, i) => `cpus:${1 + (i % 3)};mem:${512 * (1 + (i % 4))};cpus(r${i % 2}):1`),
        Array.from({ length: 5 }, (_, i) => framework(`fw-${i}`, [`r${i % 3}`], i === 0 ? [["r0", "cpus:3"]] : [])),
        [["r1", 2]],
      );
    const s = make();
    const first = drf.allocate(s).map((o) => `${o.frameworkId}@${o.agentId}:${o.resources}`);
    const second = drf.allocate(s).map((o) => `${o.frameworkId}@${o.agentId}:${o.resources}`);
    assert.deepEqual(first, second);
    const fresh = make();
    s.agents.forEach((a, i) => assert.ok(a.free.equals(fresh.agents[i]!.free)));
    assert.equal(s.frameworks[0]!.allocated.get("r0")!.get("cpus"), 3);
  });

  it("orders equal shares by name so rounds are reproducible", () => {
    const s = snapshot(["cpus:1", "cpus:1", "cpus:1"], [framework("fw-b", ["*"]), framework("fw-a", ["*"]), framework("fw-c", ["*"])]);
    assert.deepEqual(
      drf.allocate(s).map((o) => o.frameworkId),
      ["fw-a", "fw-b", "fw-c"],
    );
  });
});

describe("Heap", () => {
  interface Item extends HeapItem {
    key: number;
  }
  it("pops in key order after any pushes and updates, and find puts skipped items back", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 60 }), fc.array(fc.tuple(fc.nat(59), fc.integer({ min: 0, max: 100 })), { maxLength: 20 }), (keys, updates) => {
        const heap = new Heap<Item>((a, b) => a.key < b.key);
        const items = keys.map((key) => ({ key, heapIndex: -1 }));
        for (const item of items) heap.push(item);
        for (const [i, key] of updates) {
          const item = items[i];
          if (!item) continue;
          item.key = key;
          heap.update(item);
        }
        const found = heap.find((x) => x.key % 2 === 1);
        const odd = items.filter((x) => x.key % 2 === 1).map((x) => x.key);
        assert.equal(found?.key, odd.length ? Math.min(...odd) : undefined);
        assert.equal(heap.size, items.length);
        const popped: number[] = [];
        for (let x = heap.pop(); x; x = heap.pop()) popped.push(x.key);
        assert.deepEqual(popped, items.map((x) => x.key).sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

});
