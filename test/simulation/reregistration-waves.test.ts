/**
 * A new leader announces itself to its agents in waves (issue 18's failover at scale;
 * src/actors/master/reregistration-pacing.ts): at most `agentReregistrationWindow` agents
 * announced and not back at once, optionally at most `agentReregistrationRate` a second.
 * Real agents also find the new leader themselves (their connection to the old one broke:
 * they retry, and a standby names the leader); those come back before their turn and are
 * not announced. Three replicated masters, real agents, SimNetwork + ManualClock:
 * reproducible from the seed.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { SimCluster, type SimMaster } from "./sim-cluster.js";
import { testSeed } from "../support/seed.js";

const SEED = testSeed(31);
const AGENTS = 8;

let cluster: SimCluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

/**
 * Kills the leader; returns the new leader, its pacer, and when each agent was back with it
 * (ms after it led). `slowAnswersMs`: every master's messages to the agents take that long
 * from the crash on (a leader slow to answer, as one busy with 50,000 agents).
 */
async function failover(seed: number, pacing: { agentReregistrationWindow: number; agentReregistrationRate: number }, slowAnswersMs = 0) {
  const c = (cluster = await SimCluster.start(seed, { agents: AGENTS, ...pacing }));
  const first = await c.waitForLeader();
  await c.until(() => c.activeAgents(first) === AGENTS, "every agent registered");
  if (slowAnswersMs > 0) {
    for (const m of c.masters.keys()) for (const a of c.agents) c.net.setFaults({ minDelayMs: slowAnswersMs, maxDelayMs: slowAnswersMs }, m, a.address);
  }
  await c.crashMaster(first.address);
  await c.until(() => c.leading().some((m) => m.address !== first.address), "a new leader");
  const leader: SimMaster = c.leading().find((m) => m.address !== first.address)!;
  const ledAt = c.clock.now();
  await c.until(() => c.activeAgents(leader) === AGENTS, "every agent reregistered with the new leader", 20_000);
  const backAt = [...leader.group.master.core.agents.values()].map((a) => a.registeredAt - ledAt).sort((a, b) => a - b);
  const pacer = leader.group.master.core.reregistrationPacer!;
  await c.until(() => pacer.finished, "the new leader's last wave answered", 20_000);
  return { c, leader, backAt, pacer };
}

describe("A new leader's announcements in waves after a master failover (simulated network, manual clock)", () => {
  it("a window of 2: never more than 2 agents announced and not back, each reregisters once", async () => {
    const { leader, pacer } = await failover(SEED, { agentReregistrationWindow: 2, agentReregistrationRate: 0 });
    const s = pacer.summary;
    assert.equal(s.announced + s.skipped, AGENTS, `every agent announced or back on its own (seed ${SEED}): ${JSON.stringify(s)}`);
    assert.ok(s.peakOutstanding <= 2, `at most 2 waiting at once (seed ${SEED}): ${JSON.stringify(s)}`);
    assert.equal(s.expired, 0, `each answered within its patience (seed ${SEED})`);
    assert.equal(leader.system.metrics.value("master/messages_reregister_agent"), AGENTS, `one reregistration per agent, none retried (seed ${SEED})`);
  });

  it("a leader slow to answer (1.5 s to its agents): each announced agent waits its patience and reregisters once", async () => {
    const { leader, pacer } = await failover(SEED, { agentReregistrationWindow: 2, agentReregistrationRate: 0 }, 1_500);
    const s = pacer.summary;
    assert.equal(s.announced + s.skipped, AGENTS, `every agent announced or back on its own (seed ${SEED}): ${JSON.stringify(s)}`);
    assert.ok(s.announced >= 1, `some agents announced (seed ${SEED}): ${JSON.stringify(s)}`);
    // Without the patience in the announcement each announced agent sent its copy after its 0.5-1 s backoff.
    assert.equal(leader.system.metrics.value("master/messages_reregister_agent"), AGENTS, `one reregistration per agent, no copy while the answer was on its way (seed ${SEED}): ${JSON.stringify(s)}`);
  });

  it("a rate of 2 a second and no window: the announcements go out at that rate; neither: all at once", async () => {
    const paced = await failover(SEED, { agentReregistrationWindow: 0, agentReregistrationRate: 2 });
    const s = paced.pacer.summary;
    assert.equal(s.announced + s.skipped, AGENTS, `every agent announced or back on its own (seed ${SEED}): ${JSON.stringify(s)}`);
    assert.ok(s.announced >= 2, `some agents waited for the announcement (seed ${SEED}): ${JSON.stringify(s)}`);
    assert.ok(s.ms >= (s.announced - 1) * 500 - 100, `${s.announced} announcements over ${s.ms} ms: at most 2 a second (seed ${SEED})`);
    await paced.c.stop();
    cluster = undefined;

    const atOnce = await failover(SEED, { agentReregistrationWindow: 0, agentReregistrationRate: 0 });
    assert.equal(atOnce.pacer.summary.ms, 0, `every agent announced at once (seed ${SEED})`);
    const span = atOnce.backAt[AGENTS - 1]! - atOnce.backAt[0]!;
    assert.ok(span < 500, `without a window or a rate every agent came back within ${span} ms (seed ${SEED})`);
  });
});
