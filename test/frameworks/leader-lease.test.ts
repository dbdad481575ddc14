import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LeaderLease } from "../../src/frameworks/common/leader-lease.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { LocalLogs, type LocalLogView } from "../support/local-log-store.js";

function contender(clock: ManualClock, view: LocalLogView, id: string, trace: string[]): LeaderLease {
  return new LeaderLease({
    store: view,
    log: "fw-leader",
    self: { id, address: `${id}:80` },
    clock,
    ttlMs: 10_000,
    renewMs: 2_000,
    onElected: (term) => trace.push(`${id} elected ${term} at ${clock.now() - 1_700_000_000_000}`),
    onDeposed: (reason) => trace.push(`${id} deposed at ${clock.now() - 1_700_000_000_000}: ${reason}`),
  });
}

describe("leader lease on the replicated log's compare-and-set", () => {
  it("elects exactly one of several contenders, and all of them name it", async () => {
    const clock = new ManualClock();
    const logs = new LocalLogs();
    const trace: string[] = [];
    const all = ["a", "b", "c"].map((id) => contender(clock, logs.view(), id, trace));
    for (const l of all) l.start();
    await clock.advance(3_000);
    assert.equal(all.filter((l) => l.isLeader).length, 1);
    const leader = all.find((l) => l.isLeader)!;
    for (const l of all) assert.deepEqual(l.leader?.id, leader.leader!.id);
    await clock.advance(60_000); // renewals keep it
    assert.equal(all.filter((l) => l.isLeader).length, 1);
    assert.equal(trace.filter((t) => t.includes("elected")).length, 1, trace.join("\n"));
    for (const l of all) await l.stop();
  });

  /** a leads, b contends, a's connection is cut: 30 s checked every 250 ms that they never both lead. */
  async function cutOffHolder(clock: ManualClock, trace: string[]): Promise<{ a: LeaderLease; b: LeaderLease; va: LocalLogView }> {
    const logs = new LocalLogs();
    const va = logs.view();
    const a = contender(clock, va, "a", trace);
    a.start();
    await clock.advance(100);
    assert.ok(a.isLeader);
    const b = contender(clock, logs.view(), "b", trace);
    b.start();
    await clock.advance(5_000);
    assert.ok(!b.isLeader);
    va.cut = true;
    for (let t = 0; t < 30_000; t += 250) {
      await clock.advance(250);
      assert.ok(!(a.isLeader && b.isLeader), `both lead at +${t} ms:\n${trace.join("\n")}`);
    }
    assert.ok(!a.isLeader && b.isLeader, trace.join("\n"));
    return { a, b, va };
  }

  it("a holder cut off steps down before another contender takes over (no two leaders at any instant)", async () => {
    const clock = new ManualClock();
    const trace: string[] = [];
    const { a, b, va } = await cutOffHolder(clock, trace);
    const deposedAt = Number(/a deposed at (\d+)/.exec(trace.join("\n"))![1]);
    const electedAt = Number(/b elected \d+ at (\d+)/.exec(trace.join("\n"))![1]);
    assert.ok(deposedAt <= electedAt, trace.join("\n"));
    // When a's connection comes back it stays a follower and names b.
    va.cut = false;
    await clock.advance(5_000);
    assert.ok(!a.isLeader);
    assert.equal(a.leader?.id, "b");
    await a.stop();
    await b.stop();
  });

  it("a holder whose expiry timer fires before its clock reads the due time still steps down (timers firing early)", async () => {
    // Node's timers count the loop's whole milliseconds while Date.now() does not: a timer
    // can run a fraction of a millisecond before the clock reads its due time. This clock's
    // timers of 2 ms or more run 1 ms early.
    class EarlyTimers extends ManualClock {
      override setTimer(ms: number, fn: () => void): ReturnType<ManualClock["setTimer"]> {
        return super.setTimer(ms >= 2 ? ms - 1 : ms, fn);
      }
    }
    const trace: string[] = [];
    const { a, b } = await cutOffHolder(new EarlyTimers(), trace);
    assert.match(trace.join("\n"), /a deposed at \d+: no renewal succeeded for 10000 ms/);
    await a.stop();
    await b.stop();
  });

  it("abdication hands the lease over at once; stop releases it", async () => {
    const clock = new ManualClock();
    const logs = new LocalLogs();
    const trace: string[] = [];
    const a = contender(clock, logs.view(), "a", trace);
    a.start();
    await clock.advance(100);
    const b = contender(clock, logs.view(), "b", trace);
    b.start();
    await clock.advance(2_100);
    await a.abdicate();
    await clock.advance(2_100);
    assert.ok(b.isLeader && !a.isLeader, trace.join("\n"));
    await b.stop();
    await clock.advance(2_100);
    assert.ok(!a.isLeader, "cooldown after abdication");
    await clock.advance(10_000);
    assert.ok(a.isLeader, trace.join("\n"));
    await a.stop();
  });

  it("refuses a renewal period not below the ttl", () => {
    const logs = new LocalLogs();
    assert.throws(() => new LeaderLease({ store: logs.view(), log: "x", self: { id: "a", address: "a:1" }, clock: new ManualClock(), ttlMs: 1000, renewMs: 1000 }), /renewMs 1000 must be below ttlMs 1000/);
  });
});
