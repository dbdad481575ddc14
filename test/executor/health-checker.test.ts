/**
 * The health check policy on a ManualClock with a scripted probe: delay, interval,
 * grace period, consecutive failures, timeouts (Mesos's HealthCheckTest scenarios as
 * policy), plus a seeded random run checked against a plain model.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { HealthCheckSchema, HealthCheck_Type } from "../../src/gen/dcos/v1/tasks_pb.js";
import { healthPolicy, type HealthPolicy } from "../../src/protocol/health-check.js";
import { CheckerState, HealthChecker, type HealthProbe } from "../../src/protocol/health-checker.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { silentLogger } from "../../src/runtime/log.js";
import { Random } from "../../src/runtime/random.js";

/** What a scripted probe does: answer healthy, answer unhealthy, or never answer until aborted. */
type Outcome = "ok" | "fail" | "hang";

interface Event {
  at: number;
  what: string;
}

class Harness {
  readonly clock = new ManualClock(0);
  readonly events: Event[] = [];
  readonly checker: HealthChecker;
  readonly aborted: number[] = [];
  private readonly script: Outcome[];

  constructor(script: Outcome[], policy: Partial<HealthPolicy> = {}) {
    this.script = [...script];
    const probe: HealthProbe = (signal) => {
      const outcome = this.script.shift() ?? "ok";
      this.events.push({ at: this.clock.now(), what: `probe:${outcome}` });
      if (outcome === "ok") return Promise.resolve();
      if (outcome === "fail") return Promise.reject(new Error("exit 1"));
      return new Promise<void>((_, reject) =>
        signal.addEventListener("abort", () => {
          this.aborted.push(this.clock.now());
          reject(new Error("aborted"));
        }),
      );
    };
    const full = { ...healthPolicy(create(HealthCheckSchema, { type: HealthCheck_Type.COMMAND })), ...policy };
    this.checker = new HealthChecker("t1", full, probe, this.clock, silentLogger(), {
      changed: (healthy, message) => this.events.push({ at: this.clock.now(), what: `${healthy ? "healthy" : "unhealthy"}:${message}` }),
      failed: (message) => this.events.push({ at: this.clock.now(), what: `kill:${message}` }),
    });
  }

  /** The events other than probes, as "at ms what". */
  reports(): string[] {
    return this.events.filter((e) => !e.what.startsWith("probe:")).map((e) => `${e.at} ${e.what}`);
  }

  probeTimes(): number[] {
    return this.events.filter((e) => e.what.startsWith("probe:")).map((e) => e.at);
  }
}

describe("health checker policy (ManualClock)", () => {
  it("takes Mesos's defaults: delay 15 s, interval 10 s, timeout 20 s, 3 failures, grace 10 s", () => {
    assert.deepEqual(healthPolicy(create(HealthCheckSchema, { type: HealthCheck_Type.TCP })), {
      delayMs: 15_000,
      intervalMs: 10_000,
      timeoutMs: 20_000,
      consecutiveFailures: 3,
      gracePeriodMs: 10_000,
    });
    const set = create(HealthCheckSchema, { delaySeconds: 0, intervalSeconds: 0.5, timeoutSeconds: 1, consecutiveFailures: 1, gracePeriodSeconds: 0 });
    assert.deepEqual(healthPolicy(set), { delayMs: 0, intervalMs: 500, timeoutMs: 1000, consecutiveFailures: 1, gracePeriodMs: 0 });
  });

  it("HealthyTask: first probe after the delay, then every interval; healthy reported once", async () => {
    const h = new Harness(["ok", "ok", "ok"]);
    h.checker.start();
    await h.clock.advance(14_999);
    assert.deepEqual(h.probeTimes(), [], "nothing before the 15 s delay");
    await h.clock.advance(20_001);
    assert.deepEqual(h.probeTimes(), [15_000, 25_000, 35_000]);
    assert.deepEqual(h.reports(), ["15000 healthy:Health check succeeded"]);
    assert.equal(h.checker.isHealthy, true);
    assert.equal(h.checker.state, CheckerState.WAITING);
  });

  it("HealthStatusChange: healthy, unhealthy, healthy again are each reported once", async () => {
    const h = new Harness(["ok", "fail", "fail", "ok", "ok"], { delayMs: 0, gracePeriodMs: 0 });
    h.checker.start();
    await h.clock.advance(40_000);
    assert.deepEqual(h.reports(), [
      "0 healthy:Health check succeeded",
      "10000 unhealthy:Health check failed: exit 1",
      "30000 healthy:Health check succeeded",
    ]);
    assert.equal(h.checker.consecutiveFailures, 0, "a success resets the count");
  });

  it("ConsecutiveFailures: the third failure in a row asks for the kill and stops probing", async () => {
    const h = new Harness(["ok", "fail", "fail", "ok", "fail", "fail", "fail", "ok"], { delayMs: 0 });
    h.checker.start();
    await h.clock.advance(100_000);
    assert.deepEqual(h.reports(), [
      "0 healthy:Health check succeeded",
      "10000 unhealthy:Health check failed: exit 1",
      "30000 healthy:Health check succeeded",
      "40000 unhealthy:Health check failed: exit 1",
      "60000 kill:Health check failed 3 times in a row: exit 1",
    ]);
    assert.deepEqual(h.probeTimes(), [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000], "no probe after the kill");
    assert.equal(h.checker.state, CheckerState.STOPPED);
    assert.equal(h.clock.pendingTimers(), 0);
  });

  it("GracePeriod: failures before the first success within the grace period do not count", async () => {
    const h = new Harness(["fail", "fail", "fail", "fail", "ok", "fail"], { delayMs: 0, intervalMs: 1000, gracePeriodMs: 3500, consecutiveFailures: 1 });
    h.checker.start();
    await h.clock.advance(5_000);
    assert.deepEqual(h.probeTimes(), [0, 1000, 2000, 3000, 4000, 5000]);
    assert.deepEqual(h.reports(), ["4000 healthy:Health check succeeded", "5000 unhealthy:Health check failed: exit 1", "5000 kill:Health check failed 1 times in a row: exit 1"]);
    assert.equal(h.checker.stats.graceFailures, 4);
  });

  it("GracePeriod: a failure after the grace period counts even without a success", async () => {
    const h = new Harness(["fail", "fail"], { delayMs: 0, intervalMs: 1000, gracePeriodMs: 1000, consecutiveFailures: 1 });
    h.checker.start();
    await h.clock.advance(2_000);
    assert.deepEqual(h.reports(), ["1000 unhealthy:Health check failed: exit 1", "1000 kill:Health check failed 1 times in a row: exit 1"]);
  });

  it("GracePeriod: after the first success failures count even within the grace period", async () => {
    const h = new Harness(["ok", "fail"], { delayMs: 0, intervalMs: 1000, gracePeriodMs: 60_000, consecutiveFailures: 1 });
    h.checker.start();
    await h.clock.advance(1_000);
    assert.deepEqual(h.reports(), ["0 healthy:Health check succeeded", "1000 unhealthy:Health check failed: exit 1", "1000 kill:Health check failed 1 times in a row: exit 1"]);
  });

  it("CheckCommandTimeout: a probe that does not answer is aborted at the timeout and counts as a failure", async () => {
    const h = new Harness(["ok", "hang", "hang"], { delayMs: 0, intervalMs: 1000, timeoutMs: 2000, consecutiveFailures: 2 });
    h.checker.start();
    await h.clock.advance(10_000);
    assert.deepEqual(h.probeTimes(), [0, 1000, 4000], "the next probe is an interval after the timed-out one");
    assert.deepEqual(h.aborted, [3000, 6000]);
    assert.deepEqual(h.reports(), [
      "0 healthy:Health check succeeded",
      "3000 unhealthy:Health check failed: the check did not answer within its timeout of 2 s",
      "6000 kill:Health check failed 2 times in a row: the check did not answer within its timeout of 2 s",
    ]);
    assert.equal(h.checker.stats.timeouts, 2);
    assert.equal(h.checker.stats.staleResults, 2, "the aborted probes' rejections are ignored");
  });

  it("stop() while probing aborts the probe, ignores its result, and cancels every timer", async () => {
    const h = new Harness(["hang"], { delayMs: 0 });
    h.checker.start();
    await h.clock.settle();
    assert.equal(h.checker.state, CheckerState.PROBING);
    h.checker.stop();
    await h.clock.advance(60_000);
    assert.deepEqual(h.aborted, [0]);
    assert.deepEqual(h.reports(), []);
    assert.equal(h.clock.pendingTimers(), 0);
    assert.equal(h.checker.stats.staleResults, 1);
    h.checker.stop(); // idempotent
    assert.throws(() => h.checker.start(), /Illegal health checker transition STOPPED -> WAITING/);
  });

  it("a probe that throws synchronously counts as a failure", async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    const policy = { delayMs: 0, intervalMs: 1000, timeoutMs: 1000, consecutiveFailures: 1, gracePeriodMs: 0 };
    const checker = new HealthChecker("t2", policy, () => {
      throw new Error("cannot run the check");
    }, clock, silentLogger(), { changed: (h, m) => seen.push(`${h}:${m}`), failed: (m) => seen.push(`kill:${m}`) });
    checker.start();
    await clock.settle();
    assert.deepEqual(seen, ["false:Health check failed: cannot run the check", "kill:Health check failed 1 times in a row: cannot run the check"]);
  });

  it("random outcomes agree with a plain model of the policy (seeded)", async () => {
    let kills = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const random = new Random(seed);
      const policy = { delayMs: 500, intervalMs: 1000, timeoutMs: 1500, consecutiveFailures: 1 + random.int(6), gracePeriodMs: random.int(5) * 1000 };
      const script: Outcome[] = Array.from({ length: 250 }, () => (["ok", "ok", "ok", "ok", "fail", "hang"] as const)[random.int(6)]!);
      const h = new Harness(script, policy);
      h.checker.start();
      const horizon = 200_000;
      await h.clock.advance(horizon);
      // The model: walk the same script with the same timing rules.
      const expected: string[] = [];
      let at = policy.delayMs;
      let healthy: boolean | undefined;
      let succeeded = false;
      let row = 0;
      for (const outcome of script) {
        const end = outcome === "hang" ? at + policy.timeoutMs : at;
        if (end > horizon) break;
        if (outcome === "ok") {
          succeeded = true;
          row = 0;
          if (healthy !== true) expected.push(`${end} healthy`);
          healthy = true;
        } else if (succeeded || end >= policy.gracePeriodMs) {
          row++;
          if (healthy !== false) expected.push(`${end} unhealthy`);
          healthy = false;
          if (row >= policy.consecutiveFailures) {
            expected.push(`${end} kill`);
            break;
          }
        }
        at = end + policy.intervalMs;
      }
      const got = h.reports().map((r) => r.replace(/:.*/, ""));
      assert.deepEqual(got, expected, `seed ${seed} (policy ${JSON.stringify(policy)}, script ${script.join(",")})`);
      if (got.at(-1)?.endsWith("kill")) kills++;
    }
    assert.ok(kills > 0 && kills < 30, `the seeds cover both killed and surviving tasks (${kills} of 30 killed)`);
  });
});
