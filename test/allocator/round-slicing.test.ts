/**
 * A round over many agents is made in parts, each in its own turn (RoundSlicing), so that no
 * turn of the master grows with the cluster; on the manual clock with a budget of 0 (one
 * part per turn), deterministic.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import type { OfferDecision } from "../../src/actors/allocator/allocator.js";
import { Resources } from "../../src/resources/resources.js";
import { AllocatorHarness } from "./harness.js";

const AGENTS = 1000;
const PART = 100;

/** Agent id -> "framework resources" of every decision, for comparing two runs. */
function byAgent(decisions: readonly OfferDecision[]): Map<string, string> {
  return new Map(decisions.map((d) => [d.agentId, `${d.frameworkId} ${Resources.of(d.resources).toString()}`]));
}

function cluster(h: AllocatorHarness, frameworks: string[]): void {
  // Agents of different sizes, so that DRF shares move differently per agent.
  for (let i = 0; i < AGENTS; i++) h.addAgent(`agent-${String(i).padStart(4, "0")}`, `cpus:${1 + (i % 7)};mem:${1024 * (1 + (i % 3))}`);
  for (const f of frameworks) h.addFramework(f);
}

describe("allocation rounds made in parts", () => {
  let hs: AllocatorHarness[] = [];
  afterEach(async () => {
    await Promise.all(hs.map((h) => h.stop()));
    hs = [];
  });

  it("visits at most one part of the agents per turn and offers what an uncut round offers", async () => {
    const cut = new AllocatorHarness("hierarchical-drf", { roundSlicing: { agents: PART, budgetMs: 0 } });
    const whole = new AllocatorHarness("hierarchical-drf", { roundSlicing: { agents: 1_000_000, budgetMs: 1_000_000 } });
    hs.push(cut, whole);
    for (const h of [cut, whole]) {
      cluster(h, ["fw-a", "fw-b", "fw-c"]);
      await h.settle();
    }
    // Every agent offered once, in parts of at most 100 agents (one callback per part).
    assert.equal(whole.rounds.length, 1);
    assert.equal(cut.rounds.length, AGENTS / PART);
    for (const part of cut.rounds) assert.ok(part.length <= PART, `a part offered ${part.length} agents`);
    assert.equal(new Set(cut.offers.map((d) => d.agentId)).size, AGENTS);
    // The same DRF decisions, agent by agent: each part starts from the books the parts before it left.
    assert.deepEqual(byAgent(cut.offers), byAgent(whole.offers));
    const m = cut.metrics.snapshot();
    assert.equal(m["allocator/allocation_slices"], AGENTS / PART);
    assert.equal(m["allocator/allocation_runs"], 1, "a round in parts counts as one round");
    assert.equal(whole.metrics.snapshot()["allocator/allocation_slices"], 1);
  });

  it("lets other calls run between parts: an agent removed meanwhile is not offered, a framework added meanwhile takes part", async () => {
    const h = new AllocatorHarness("hierarchical-drf", { roundSlicing: { agents: PART, budgetMs: 0 } });
    hs.push(h);
    for (let i = 0; i < AGENTS; i++) h.addAgent(`agent-${String(i).padStart(4, "0")}`);
    h.addFramework("fw-a");
    let calls = 0;
    h.allocator.initialize((decisions) => {
      h.rounds.push(decisions);
      h.offers.push(...decisions);
      // Queued behind the first part: handled before the next part, as a framework's call would be.
      if (calls++ === 0) {
        h.allocator.removeAgent("agent-0999");
        h.addFramework("fw-b");
      }
    });
    await h.settle();
    const offered = new Set(h.offers.map((d) => d.agentId));
    assert.equal(offered.has("agent-0999"), false, "a removed agent must not be offered");
    assert.equal(offered.size, AGENTS - 1);
    // fw-b (share 0) gets agents from the second part on, none of the first.
    const firstB = h.offers.findIndex((d) => d.frameworkId === "fw-b");
    assert.equal(firstB, PART, "fw-b's first offer is the second part's first agent");
    // A round asked for during the parts (adding fw-b asks for one) runs after them and finds nothing left.
    assert.equal(h.metrics.snapshot()["allocator/allocation_runs"], 2);
  });

  it("makes the next part only once the master has acted on the last one's offers: a SUPPRESS it heard meanwhile counts", async () => {
    // A budget no part reaches: without the master's answer every part would run in one turn.
    const h = new AllocatorHarness("hierarchical-drf", { roundSlicing: { agents: PART, budgetMs: 1_000_000 } });
    hs.push(h);
    for (let i = 0; i < AGENTS; i++) h.addAgent(`agent-${String(i).padStart(4, "0")}`);
    h.addFramework("fw-a");
    h.addFramework("fw-b");
    const handled: (() => void)[] = [];
    h.allocator.initialize((decisions) => {
      h.rounds.push(decisions);
      h.offers.push(...decisions);
      return new Promise<void>((resolve) => handled.push(resolve));
    });
    await h.settle();
    assert.equal(h.rounds.length, 1, "one part, then the allocator waits for the master");
    assert.equal(h.offers.length, PART);
    // The master acts on the first part; meanwhile it heard fw-a's SUPPRESS.
    h.allocator.suppressOffers("fw-a");
    handled.shift()!();
    await h.settle();
    assert.equal(h.rounds.length, 2, "the second part, after the first was handled");
    assert.ok(
      h.rounds[1]!.every((d) => d.frameworkId === "fw-b"),
      "the suppressed framework gets nothing of the parts after it was heard",
    );
    // The rest of the round follows part by part as the master answers.
    while (handled.length > 0) {
      handled.shift()!();
      await h.settle();
    }
    assert.equal(h.rounds.length, AGENTS / PART);
    assert.equal(new Set(h.offers.map((d) => d.agentId)).size, AGENTS, "every agent offered once");
    assert.equal(h.offers.filter((d) => d.frameworkId === "fw-a").length, PART / 2, "fw-a: its DRF half of the first part only");
    assert.equal(h.metrics.snapshot()["allocator/allocation_runs"], 1, "still one round");
  });

  it("makes the round after many declines (over the agents that came back) in parts too", async () => {
    const h = new AllocatorHarness("hierarchical-drf", { roundSlicing: { agents: PART, budgetMs: 0 } });
    hs.push(h);
    cluster(h, ["fw-a"]);
    await h.settle();
    // Everything is offered; fw-a declines it all without a filter: the round soon after visits those agents, in parts.
    h.decline(h.offers.splice(0), "fw-a", 0);
    h.rounds.length = 0;
    await h.settle();
    assert.equal(h.rounds.length, AGENTS / PART, "the round after the declines visits the declined agents in parts");
    assert.equal(new Set(h.offers.map((d) => d.agentId)).size, AGENTS);
  });
});
