import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { parseUnreachableRate } from "../../src/actors/master/unreachable-rate-limit.js";
import { Code, DcosError } from "../../src/runtime/error.js";
import { Cluster } from "../master/harness.js";

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const PING_TIMEOUT_MS = 15_000;
const MAX_MISSED = 5;
const TEN_MINUTES = 600_000;

describe("agent unreachable rate limit (--agent-unreachable-rate-limit)", () => {
  it("parses Mesos-style rates and refuses bad ones precisely", () => {
    assert.deepEqual(parseUnreachableRate("1/10mins"), { permits: 1, intervalMs: TEN_MINUTES });
    assert.deepEqual(parseUnreachableRate("3/1hrs"), { permits: 3, intervalMs: 3_600_000 });
    assert.deepEqual(parseUnreachableRate("2/30secs"), { permits: 2, intervalMs: 30_000 });
    for (const [bad, why] of [
      ["ten per minute", /not of the form/],
      ["1/10fortnights", /unknown unit 'fortnights'/],
      ["0/1mins", /permits must be at least 1/],
      ["1/0secs", /duration must be positive/],
    ] as const) {
      assert.throws(
        () => parseUnreachableRate(bad),
        (e: unknown) => e instanceof DcosError && e.code === Code.INVALID_ARGUMENT && why.test(e.message),
        bad,
      );
    }
  });

  it("a whole rack dropping: one agent marked unreachable per interval, not all at once", async () => {
    const c = (cluster = await Cluster.start({ agents: 3, agentUnreachableRateLimit: "1/10mins" }));
    for (const a of c.agents) a.answerPings = false;
    // Past the ping window every agent missed its pings; the first permit is free at once.
    await c.clock.advance(PING_TIMEOUT_MS * (MAX_MISSED + 1));
    assert.equal(c.metric("master/slave_unreachable_scheduled"), 3);
    assert.equal(c.metric("master/slaves_unreachable"), 1);
    const firstAt = c.clock.now();
    await c.clock.advanceUntil(() => c.metric("master/slaves_unreachable") === 2, TEN_MINUTES, 1000);
    assert.ok(c.clock.now() - firstAt >= TEN_MINUTES - PING_TIMEOUT_MS * 2, "the second waits about one interval");
    assert.equal(c.metric("master/slaves_unreachable"), 2);
    await c.clock.advance(TEN_MINUTES);
    assert.equal(c.metric("master/slaves_unreachable"), 3);
    assert.equal(c.metric("master/slave_unreachable_completed"), 3);
    assert.equal(c.metric("master/slave_unreachable_canceled"), 0);
  });

  it("an agent that answers a ping while it waits for its permit stays", async () => {
    const c = (cluster = await Cluster.start({ agents: 2, agentUnreachableRateLimit: "1/10mins" }));
    for (const a of c.agents) a.answerPings = false;
    await c.clock.advance(PING_TIMEOUT_MS * (MAX_MISSED + 1));
    assert.equal(c.metric("master/slaves_unreachable"), 1);
    const waitingAgent = c.agents.find((a) => !c.registrar.state().unreachable.has(a.agentId))!;
    waitingAgent.answerPings = true;
    await c.clock.advance(TEN_MINUTES * 2);
    assert.equal(c.metric("master/slaves_unreachable"), 1);
    assert.equal(c.metric("master/slave_unreachable_canceled"), 1);
    assert.ok(!c.registrar.state().unreachable.has(waitingAgent.agentId));
  });

  it("without a limit every agent is marked as soon as its pings are missed", async () => {
    const c = (cluster = await Cluster.start({ agents: 3 }));
    for (const a of c.agents) a.answerPings = false;
    await c.clock.advance(PING_TIMEOUT_MS * (MAX_MISSED + 1));
    assert.equal(c.metric("master/slaves_unreachable"), 3);
    assert.equal(c.metric("master/slave_unreachable_scheduled"), 0);
  });
});
