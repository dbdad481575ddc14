/**
 * The offers benchmark's framework on the real SchedulerDriver (the TypeScript framework
 * library) in a worker thread: what a TypeScript framework gets. The driver acknowledges
 * implicitly (its own batching); the BenchScheduler only accepts and declines through it.
 * The parent posts "stop"; the worker answers with its SchedulerResult and the driver's
 * counters, and exits.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SchedulerDriver } from "../../src/actors/scheduler-driver/driver.js";
import { ActorSystem } from "../../src/runtime/system.js";
import { BenchScheduler, type SchedulerCalls } from "./offers-scheduler.js";
import { schedulerCredentials, type GrpcSchedulerData } from "./offers-grpc-scheduler.js";

export interface DriverSchedulerData extends GrpcSchedulerData {
  /** AckBatcher maxInFlight for this run (the driver's default when absent). */
  ackCallsInFlight?: number;
}

function connect(data: DriverSchedulerData): { scheduler: BenchScheduler; driver: SchedulerDriver; system: ActorSystem } {
  let scheduler: BenchScheduler | undefined;
  const system = new ActorSystem();
  const driver = new SchedulerDriver({
    system,
    masters: data.target,
    channelCredentials: schedulerCredentials(data),
    framework: { name: "bench", user: "nobody", roles: ["*"] },
    acknowledgements: data.ackCallsInFlight ? { maxInFlight: data.ackCallsInFlight } : undefined,
    callbacks: {
      offers: (offers) => scheduler!.offered(offers),
      update: (status) => scheduler!.update(status),
    },
  });
  const calls: SchedulerCalls = {
    accept: (r) => driver.accept(r.offerIds, r.operations, r.filters),
    decline: (r) => driver.decline(r.offerIds, r.filters),
    acknowledge: () => Promise.reject(new Error("the driver acknowledges")),
    acknowledgeBatch: () => Promise.reject(new Error("the driver acknowledges")),
  };
  scheduler = new BenchScheduler(calls, { ...data.settings, driverAcks: true });
  return { scheduler, driver, system };
}

if (parentPort && workerData) {
  const { scheduler, driver, system } = connect(workerData as DriverSchedulerData);
  driver.start().then(
    (subscribed) => {
      scheduler.frameworkId = subscribed.frameworkId!.value;
      scheduler.streamId = subscribed.streamId;
      parentPort!.postMessage({ subscribed: true });
    },
    (err: unknown) => {
      throw err;
    },
  );
  parentPort.on("message", (m: { stop?: boolean }) => {
    if (!m.stop) return;
    const counters = Object.fromEntries(
      ["acknowledge_calls", "acknowledgements_sent", "calls_failed"].map((k) => [k, system.metrics.value(`scheduler_driver/${k}`) ?? 0]),
    );
    parentPort!.postMessage({ result: scheduler.result(), counters });
    void driver.stop().then(() => system.stop()).then(() => parentPort!.close());
  });
}
