/**
 * `npm run bench -- scheduler-driver`: the scheduler driver against a scripted master on
 * loopback: events delivered per second (stream → actor → callback), the round trip of
 * one call, and calls per second with many in flight. Medians of a few rounds.
 */
import { SchedulerDriver } from "../../../src/actors/scheduler-driver/driver.js";
import { TaskState } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { FakeSchedulerServer } from "../../support/fake-scheduler-server.js";
import { median, percentile, type Reporter } from "../report.js";

const ROUNDS = 3;

async function withDriver<T>(fn: (fake: FakeSchedulerServer, driver: SchedulerDriver, received: () => number) => Promise<T>): Promise<T> {
  const fake = await FakeSchedulerServer.start();
  let updates = 0;
  const driver = new SchedulerDriver({
    masters: fake.address,
    framework: { name: "bench", roles: ["*"], user: "nobody" },
    reconcileOnSubscribe: false,
    logger: silentLogger(),
    callbacks: { update: () => void updates++ },
  });
  try {
    await driver.start();
    return await fn(fake, driver, () => updates);
  } finally {
    await driver.stop();
    fake.stop();
  }
}

async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setImmediate(r));
}

async function eventsPerSecond(n: number): Promise<number> {
  return withDriver(async (fake, _driver, received) => {
    const stream = await fake.stream(1);
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      stream.send({ kind: { case: "update", value: { status: { taskId: { value: `t-${i}` }, state: TaskState.RUNNING } } } });
    }
    await until(() => received() >= n);
    return n / ((performance.now() - start) / 1000);
  });
}

async function callLatencies(n: number): Promise<number[]> {
  return withDriver(async (_fake, driver) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await driver.decline([`o-${i}`]);
      out.push(performance.now() - start);
    }
    return out;
  });
}

async function callsPerSecond(n: number, inFlight: number): Promise<number> {
  return withDriver(async (_fake, driver) => {
    let next = 0;
    const start = performance.now();
    const worker = async (): Promise<void> => {
      while (next < n) await driver.decline([`o-${next++}`]);
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
    return n / ((performance.now() - start) / 1000);
  });
}

export async function run(report: Reporter): Promise<void> {
  const events: number[] = [];
  const p50: number[] = [];
  const p99: number[] = [];
  const calls: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    events.push(await eventsPerSecond(20_000));
    const latencies = await callLatencies(2_000);
    p50.push(percentile(latencies, 50));
    p99.push(percentile(latencies, 99));
    calls.push(await callsPerSecond(5_000, 64));
  }
  report.figure("events_per_s", median(events), "events/s", "higher", { events: 20_000, rounds: ROUNDS });
  report.figure("call_latency_p50_ms", median(p50), "ms", "lower", { calls: 2_000, rounds: ROUNDS });
  report.figure("call_latency_p99_ms", median(p99), "ms", "lower", { calls: 2_000, rounds: ROUNDS });
  report.figure("calls_per_s", median(calls), "calls/s", "higher", { calls: 5_000, in_flight: 64, rounds: ROUNDS });
}
