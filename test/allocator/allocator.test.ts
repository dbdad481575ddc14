import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { createAllocator } from "../../src/actors/allocator/allocator-facade.js";
import { AllocatorActor } from "../../src/actors/allocator/allocator-actor.js";
import { createPolicy } from "../../src/actors/allocator/policies.js";
import type { AllocationSnapshot } from "../../src/actors/allocator/snapshot.js";
import { Quantities } from "../../src/resources/quantities.js";
import { parseResources } from "../../src/resources/parse.js";
import { reservationRole } from "../../src/resources/resource.js";
import { Resources } from "../../src/resources/resources.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { HeapGraph } from "../support/heap-graph.js";
import { AllocatorHarness, agentsOffered, INTERVAL_MS, offersPerFramework, scalarOffered } from "./harness.js";

let h: AllocatorHarness;
afterEach(async () => h?.stop());

function agents(n: number, resources?: string): void {
  for (let i = 1; i <= n; i++) h.addAgent(`agent-${i}`, resources);
}

describe("Allocator (hierarchical DRF)", () => {
  it("gives two frameworks equal shares of equal agents", async () => {
    h = new AllocatorHarness();
    agents(10);
    h.addFramework("fw-a");
    h.addFramework("fw-b");
    await h.settle();
    assert.deepEqual(offersPerFramework(h.offers), new Map([["fw-a", 5], ["fw-b", 5]]));
    assert.equal(scalarOffered(h.offers, "fw-a", "cpus"), 20);
    assert.equal(h.rounds.length, 1, "the changes were batched into one round");
  });

  it("gives roles shares in proportion to their weights", async () => {
    h = new AllocatorHarness("hierarchical-drf", { weights: new Map([["heavy", 3]]) });
    agents(8);
    h.addFramework("fw-heavy", ["heavy"]);
    h.addFramework("fw-light", ["light"]);
    await h.settle();
    assert.deepEqual(offersPerFramework(h.offers), new Map([["fw-heavy", 6], ["fw-light", 2]]));
    assert.ok(h.offers.every((d) => d.resources.every((r) => r.allocationInfo?.role === (d.frameworkId === "fw-heavy" ? "heavy" : "light"))));
  });

  it("gives a late framework its share of what is given back", async () => {
    h = new AllocatorHarness();
    agents(4);
    h.addFramework("fw-a");
    await h.settle();
    assert.deepEqual(agentsOffered(h.offers, "fw-a"), ["agent-1", "agent-2", "agent-3", "agent-4"]);
    // fw-a keeps two agents (tasks run there) and declines the others; fw-b arrives.
    const later = await h.during(async () => {
      h.decline(h.offers.filter((d) => d.agentId === "agent-3" || d.agentId === "agent-4"), "fw-a");
      h.addFramework("fw-b");
      await h.settle();
    });
    assert.deepEqual(agentsOffered(later, "fw-b"), ["agent-3", "agent-4"]);
    assert.deepEqual(agentsOffered(later, "fw-a"), []);
  });

  it("honours a decline filter until it expires, and offers the agent to others meanwhile", async () => {
    h = new AllocatorHarness();
    h.addAgent("agent-1");
    h.addFramework("fw-a");
    await h.settle();
    assert.deepEqual(agentsOffered(h.offers, "fw-a"), ["agent-1"]);
    h.decline(h.offers, "fw-a", 5);
    const filtered = await h.during(() => h.advance(4 * INTERVAL_MS));
    assert.deepEqual(filtered, [], "no offer while the 5 s filter holds");
    const expired = await h.during(() => h.advance(INTERVAL_MS));
    assert.deepEqual(agentsOffered(expired, "fw-a"), ["agent-1"], "offered again once the filter expired");

    h.decline(expired, "fw-a", 60);
    h.addFramework("fw-b");
    const other = await h.during(() => h.settle());
    assert.deepEqual(agentsOffered(other, "fw-b"), ["agent-1"]);
  });

  it("makes no offers to a suppressed framework until it revives, and revive clears filters", async () => {
    h = new AllocatorHarness();
    agents(2);
    h.addFramework("fw-a");
    await h.settle();
    h.allocator.suppressOffers("fw-a");
    h.decline(h.offers, "fw-a", 3600);
    assert.deepEqual(await h.during(() => h.advance(5 * INTERVAL_MS)), []);
    const revived = await h.during(async () => {
      h.allocator.reviveOffers("fw-a");
      await h.settle();
    });
    assert.deepEqual(agentsOffered(revived, "fw-a"), ["agent-1", "agent-2"], "revive un-suppresses and clears the 1 h filter");
  });

  it("suppresses one role of a multi-role framework and keeps offering to the other", async () => {
    h = new AllocatorHarness();
    agents(2);
    h.addFramework("fw-a", ["web", "batch"], ["batch"]);
    await h.settle();
    assert.equal(h.offers.length, 2);
    assert.ok(h.offers.every((d) => d.resources.every((r) => r.allocationInfo?.role === "web")));
  });

  it("offers reserved resources to their role only", async () => {
    h = new AllocatorHarness();
    agents(4, "cpus:4;mem:4096;cpus(ops):2;mem(ops):1024");
    h.addFramework("fw-web", ["web"]);
    h.addFramework("fw-ops", ["ops"]);
    await h.settle();
    for (const d of h.offers) {
      for (const r of d.resources) {
        if (reservationRole(r) !== "ops") continue;
        assert.equal(d.frameworkId, "fw-ops", `reserved ${r.name} offered to ${d.frameworkId}`);
        assert.equal(r.allocationInfo?.role, "ops");
      }
    }
    assert.equal(Resources.of(h.offers.filter((d) => d.frameworkId === "fw-ops").flatMap((d) => d.resources)).reserved("ops").scalar("cpus"), 8);
    assert.ok(scalarOffered(h.offers, "fw-web", "cpus") > 0, "the web role gets unreserved resources");
  });

  it("keeps reserved resources for their role even when the role has no framework", async () => {
    h = new AllocatorHarness();
    h.addAgent("agent-1", "cpus:1;cpus(ops):2");
    h.addFramework("fw-web", ["web"]);
    await h.settle();
    assert.equal(Resources.of(h.offers.flatMap((d) => d.resources)).toString(), "cpus@web:1");
  });

  it("offers resources reserved to a role to frameworks of roles nested below it", async () => {
    h = new AllocatorHarness();
    h.addAgent("agent-1", "cpus(eng):2;mem(eng):256");
    h.addFramework("fw-backend", ["eng/backend"]);
    await h.settle();
    assert.equal(Resources.of(h.offers.flatMap((d) => d.resources)).toString(), "cpus(eng)@eng/backend:2; mem(eng)@eng/backend:256");
  });

  it("offers nothing to inactive frameworks or on inactive agents, and again once active", async () => {
    h = new AllocatorHarness();
    agents(2);
    h.addFramework("fw-a");
    h.allocator.deactivateAgent("agent-2");
    h.allocator.deactivateFramework("fw-a");
    assert.deepEqual(await h.during(() => h.advance(2 * INTERVAL_MS)), []);
    h.allocator.activateFramework("fw-a");
    assert.deepEqual(agentsOffered(await h.during(() => h.settle()), "fw-a"), ["agent-1"]);
    h.allocator.activateAgent("agent-2");
    assert.deepEqual(agentsOffered(await h.during(() => h.settle()), "fw-a"), ["agent-2"]);
  });

  it("frees a removed framework's resources for the others", async () => {
    h = new AllocatorHarness();
    agents(2);
    h.addFramework("fw-a");
    await h.settle();
    h.addFramework("fw-b");
    h.allocator.removeFramework("fw-a");
    assert.deepEqual(agentsOffered(await h.during(() => h.settle()), "fw-b"), ["agent-1", "agent-2"]);
  });

  it("counts what running tasks use when an agent is added", async () => {
    h = new AllocatorHarness();
    h.addFramework("fw-a");
    await h.settle();
    h.addAgent("agent-1", "cpus:4;mem:4096", new Map([["fw-a", parseTask()]]));
    await h.settle();
    assert.equal(Resources.of(h.offers.flatMap((d) => d.resources)).toString(), "cpus@*:3; mem@*:3072");
  });

  it("keeps on an agent's book who holds something there, not a Map beside the frameworks' books (a heap snapshot's AgentBooks)", async () => {
    h = new AllocatorHarness();
    h.addFramework("fw-a");
    h.addFramework("fw-b");
    await h.settle();
    for (let i = 1; i <= 20; i++) h.addAgent(`held-${i}`, "cpus:4;mem:4096", new Map([["fw-a", parseTask()], ["fw-b", parseTask()]]));
    await h.settle();
    const heap = await HeapGraph.take();
    const books = [...heap.objectsOf("AgentBook")];
    assert.ok(books.length >= 20, `${books.length} agent books in the heap`);
    for (const book of books) assert.deepEqual([...heap.edges(book, "property")].filter(([, to]) => heap.name(to) === "Map").map(([name]) => name), [], "no Map on an agent's book");
    // What is held still counts: the agent's total changes, and what fw-a holds (its task, its offers) stays taken.
    const offeredTo = (fw: string) => Resources.of(h.offers.filter((d) => d.agentId === "held-1" && d.frameworkId === fw).flatMap((d) => d.resources)).unallocated();
    const heldByA = offeredTo("fw-a").add(Resources.of(parseTask()));
    h.allocator.updateAgent("held-1", parseResources("cpus:8;mem:8192").toProto());
    h.allocator.removeFramework("fw-b");
    const after = await h.during(() => h.advance());
    const offered = Resources.of(after.filter((d) => d.agentId === "held-1").flatMap((d) => d.resources)).unallocated();
    assert.ok(offered.equals(parseResources("cpus:8;mem:8192").subtract(heldByA)), `offered ${offered}: the new total less fw-a's ${heldByA} (fw-b's is free again)`);
  });

  it("runs a round every allocation interval and soon after resources are freed, batching changes", async () => {
    h = new AllocatorHarness();
    agents(3);
    h.addFramework("fw-a");
    await h.settle();
    const runsAfterFirst = h.allocator.metrics().allocationRuns;
    await h.advance(3 * INTERVAL_MS);
    assert.equal(h.allocator.metrics().allocationRuns, runsAfterFirst + 3, "one round per interval");
    const rounds = h.rounds.length;
    h.decline(h.offers, "fw-a");
    await h.settle();
    assert.equal(h.rounds.length, rounds + 1, "three recoveries, one round, without waiting for the interval");
    assert.equal(h.rounds.at(-1)!.length, 3);
    const snapshot = h.metrics.snapshot();
    assert.equal(snapshot["allocator/allocation_runs"], h.allocator.metrics().allocationRuns);
    assert.equal(snapshot["allocator/allocation_run_ms/count"], h.allocator.metrics().allocationRuns);
    assert.ok(snapshot["allocator/allocation_run_ms/p50"]! >= 0);
    assert.equal(snapshot["allocator/resources/cpus/total"], 12);
    assert.equal(snapshot["allocator/resources/cpus/offered_or_allocated"], 12, "the round after the declines offered everything again");
    assert.equal(snapshot["allocator/resources/mem/total"], 3 * 4096);
  });

  it("runs the round after a recovery over that agent only; the interval round visits every agent", async () => {
    h = new AllocatorHarness();
    agents(3);
    h.addFramework("fw-a");
    await h.settle();
    assert.deepEqual(agentsOffered(h.offers, "fw-a"), ["agent-1", "agent-2", "agent-3"]);
    const onAgent = (id: string) => h.offers.find((d) => d.agentId === id)!;
    // agent-3 is declined for 0.5 s: its round offers nothing, and it stays free.
    const runs = h.allocator.metrics().allocationRuns;
    h.decline([onAgent("agent-3")], "fw-a", 0.5);
    await h.settle();
    assert.equal(h.allocator.metrics().allocationRuns, runs + 1);
    assert.equal(h.offers.length, 3);
    // 0.6 s later (before the interval round) agent-1 comes back: the round soon after visits agent-1 alone,
    // not agent-3, whose filter has expired meanwhile.
    await h.advance(600);
    const rounds = h.rounds.length;
    h.decline([onAgent("agent-1")], "fw-a", 0);
    await h.settle();
    assert.equal(h.rounds.length, rounds + 1);
    assert.deepEqual(h.rounds.at(-1)!.map((d) => d.agentId), ["agent-1"]);
    // The interval round (at 1 s) visits every agent and finds agent-3.
    const decisions = await h.during(() => h.advance(400));
    assert.deepEqual(decisions.map((d) => d.agentId), ["agent-3"]);
    const m = h.metrics.snapshot();
    assert.equal(m["allocator/resources/cpus/offered_or_allocated"], 12);
  });

  it("keeps the total of the active agents as agents come, go, change and (de)activate", async () => {
    const clock = new ManualClock();
    const system = new ActorSystem({ clock, address: "master", logger: testLogger() });
    const actor = system.spawn(new AllocatorActor("allocator", createPolicy("hierarchical-drf"), INTERVAL_MS, undefined));
    const r = (s: string) => parseResources(s).toProto();
    const summed = (snapshot: AllocationSnapshot) => {
      const q = new Quantities();
      for (const a of snapshot.agents) if (a.active) q.addAll(a.total.quantities());
      return { cpus: q.get("cpus"), mem: q.get("mem") };
    };
    const steps: ((a: AllocatorActor) => void)[] = [
      (a) => a.addAgent("agent-1", { hostname: "a1", total: r("cpus:4;mem:4096"), active: true }, new Map()),
      (a) => a.addAgent("agent-2", { hostname: "a2", total: r("cpus:4;mem:4096"), active: false }, new Map()),
      (a) => a.activateAgent("agent-2"),
      (a) => a.deactivateAgent("agent-1"),
      (a) => a.updateAgent("agent-1", r("cpus:8;mem:8192")),
      (a) => a.activateAgent("agent-1"),
      (a) => a.updateAgent("agent-2", r("cpus:2;mem:1024")),
      (a) => a.addAgent("agent-3", { hostname: "a3", total: r("cpus:1;mem:512"), active: true }, new Map()),
      (a) => a.removeAgent("agent-1"),
      (a) => a.deactivateAgent("agent-3"),
      (a) => a.removeAgent("agent-3"),
    ];
    const kept: { cpus: number; mem: number }[] = [];
    const expected: { cpus: number; mem: number }[] = [];
    for (const step of steps) {
      await system.dispatch(actor, (a) => {
        step(a);
        const s = a.snapshot();
        kept.push({ cpus: s.totals!.get("cpus"), mem: s.totals!.get("mem") });
        expected.push(summed(s));
      });
    }
    assert.deepEqual(kept, expected);
    assert.deepEqual(kept.at(-1), { cpus: 2, mem: 1024 });
    await system.stop();
  });

  it("ignores and counts calls about unknown or invalid things without crashing", async () => {
    h = new AllocatorHarness();
    h.addAgent("agent-1");
    h.allocator.recoverResources("fw-ghost", "agent-1", []);
    h.allocator.suppressOffers("fw-ghost");
    h.allocator.addAgent("agent-bad", { hostname: "x", total: [{ ...parseTask()[0]!, name: "" }], active: true }, new Map());
    h.allocator.addFramework("fw-bad", { roles: ["a//b"], active: true }, new Map());
    h.addFramework("fw-a");
    await h.settle();
    const m = h.metrics.snapshot();
    assert.equal(m["allocator/dropped/unknown_framework"], 2);
    assert.equal(m["allocator/dropped/invalid_resources"], 1);
    assert.equal(m["allocator/dropped/invalid_roles"], 1);
    const offered = h.offers[0]!.resources;
    h.allocator.recoverResources("fw-a", "agent-1", offered);
    h.allocator.recoverResources("fw-a", "agent-1", offered);
    await h.settle();
    assert.equal(h.metrics.snapshot()["allocator/dropped/recovered_more_than_allocated"], 1, "the second recovery gave back what was no longer held");
    assert.equal(Resources.of(h.offers.at(-1)!.resources).toString(), "cpus@*:4; mem@*:4096", "and the books still balance");
  });
});

/** What one task holds: cpus:1;mem:1024 (no allocation role, as a master may report it). */
function parseTask() {
  return parseResources("cpus:1;mem:1024").toProto();
}

describe("Allocator (strict priority)", () => {
  it("starves the lower role by design while the higher one can take everything", async () => {
    h = new AllocatorHarness("strict-priority", { weights: new Map([["high", 2], ["low", 1]]) });
    agents(4);
    h.addFramework("fw-high", ["high"]);
    h.addFramework("fw-low", ["low"]);
    await h.settle();
    assert.deepEqual(offersPerFramework(h.offers), new Map([["fw-high", 4]]));
    const again = await h.during(async () => {
      h.decline(h.offers, "fw-high");
      await h.advance(INTERVAL_MS);
    });
    assert.deepEqual(offersPerFramework(again), new Map([["fw-high", 4]]), "still nothing for the low role");
  });

  it("lets the lower role have what the higher one refuses", async () => {
    h = new AllocatorHarness("strict-priority", { weights: new Map([["high", 2]]) });
    agents(2);
    h.addFramework("fw-high", ["high"]);
    h.addFramework("fw-low", ["low"]);
    await h.settle();
    const after = await h.during(async () => {
      h.decline(h.offers, "fw-high", 30);
      await h.settle();
    });
    assert.deepEqual(offersPerFramework(after), new Map([["fw-low", 2]]));
  });

  it("is fair (DRF) where the same setup under hierarchical-drf splits the agents", async () => {
    h = new AllocatorHarness("hierarchical-drf", { weights: new Map([["high", 2], ["low", 1]]) });
    agents(3);
    h.addFramework("fw-high", ["high"]);
    h.addFramework("fw-low", ["low"]);
    await h.settle();
    assert.deepEqual(offersPerFramework(h.offers), new Map([["fw-high", 2], ["fw-low", 1]]));
  });
});

describe("createAllocator", () => {
  it("rejects an unknown policy with INVALID_ARGUMENT listing the known ones", async () => {
    const system = new ActorSystem({ clock: new ManualClock() });
    assert.throws(
      () => createAllocator("fifo", system),
      (e: unknown) => DcosError.is(e, Code.INVALID_ARGUMENT) && e.message === "Unknown allocator policy 'fifo'; known policies: hierarchical-drf, strict-priority",
    );
    assert.throws(() => createAllocator("hierarchical-drf", system, { allocationIntervalMs: 0 }), /Invalid allocation interval 0 ms/);
    assert.throws(() => createAllocator("strict-priority", system, { weights: new Map([["a", -1]]) }), /Invalid weight -1 for role 'a'/);
    await system.stop();
  });
});
