/**
 * A new leader's announcement spreads its agents' reregistrations (issue 18's failover at
 * scale): LeadingMaster.reregister_within_ms is the registry's agents over the master's
 * planned rate (agentReregistrationRate), and each agent makes its first attempt at a
 * random point in it (its seeded source). Three replicated masters, real agents,
 * SimNetwork + ManualClock: reproducible from the seed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { reregisterSpreadMs } from "../../src/actors/master/registry-recovery.js";
import { MAX_REREGISTER_SPREAD_MS } from "../../src/actors/master/options.js";
import { SimCluster, type SimMaster } from "./sim-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(31);
const AGENTS = 8;

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/** Kills the leader; returns the new leader, when it led, and when each agent was back with it (clock ms). */
async function failover(seed: number, rate: number): Promise<{ c: SimCluster; leader: SimMaster; ledAt: number; backAt: number[] }> {
  const c = (cluster = await SimCluster.start(seed, { agents: AGENTS, agentReregistrationRate: rate }));
  const first = await c.waitForLeader();
  await c.until(() => c.activeAgents(first) === AGENTS, "every agent registered");
  await c.crashMaster(first.address);
  await c.until(() => c.leading().some((m) => m.address !== first.address), "a new leader");
  const leader = c.leading().find((m) => m.address !== first.address)!;
  const ledAt = c.clock.now();
  await c.until(() => c.activeAgents(leader) === AGENTS, "every agent reregistered with the new leader", 20_000);
  const backAt = [...leader.group.master.core.agents.values()].map((a) => a.registeredAt).sort((a, b) => a - b);
  return { c, leader, ledAt, backAt };
}

describe("Reregistration spread after a master failover (simulated network, manual clock)", () => {
  it("the spread is the registry's agents over the planned rate, capped; 0 without a rate", () => {
    assert.equal(reregisterSpreadMs(10_000, 5_000), 2_000);
    assert.equal(reregisterSpreadMs(50_000, 5_000), 10_000);
    assert.equal(reregisterSpreadMs(3, 5_000), 1);
    assert.equal(reregisterSpreadMs(10_000_000, 5_000), MAX_REREGISTER_SPREAD_MS);
    assert.equal(reregisterSpreadMs(10_000, 0), 0);
    assert.equal(reregisterSpreadMs(0, 5_000), 0);
  });

  it("agents told to spread over 4 s come back over the window, each once; told nothing, all at once", async () => {
    // 8 agents at 2 per second: a 4 s window.
    const spread = await failover(SEED, 2);
    const window = reregisterSpreadMs(AGENTS, 2);
    assert.equal(window, 4_000);
    const first = spread.backAt[0]! - spread.ledAt;
    const last = spread.backAt[AGENTS - 1]! - spread.ledAt;
    assert.ok(last - first >= 1_000, `reregistrations spread over ${last - first} ms of the ${window} ms window (seed ${SEED}): ${spread.backAt.map((t) => t - spread.ledAt).join(", ")}`);
    assert.ok(last <= window + 1_000, `the last agent came back ${last} ms after the election, within the window and one answer (seed ${SEED})`);
    const m = spread.leader.system.metrics;
    assert.equal(m.value("master/messages_reregister_agent"), AGENTS, `one reregistration per agent, none retried (seed ${SEED})`);
    await spread.c.stop();
    cluster = undefined;

    const atOnce = await failover(SEED, 0);
    const span = atOnce.backAt[AGENTS - 1]! - atOnce.backAt[0]!;
    assert.ok(span < 500, `without a spread every agent came back within ${span} ms (seed ${SEED})`);
  });
});
