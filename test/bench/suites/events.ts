/**
 * Bench 'events': the NATS event tap against a real nats-server. (1) events/s the tap
 * publishes (events put on the bus in bursts, timed until the last is published); (2) the
 * master's status updates handled/s with no listener on its bus and with the tap attached,
 * in the same run, alternating rounds, and their ratio; (3) µs per event to encode each hot
 * kind at publish time with the tap's writer (binary-writer.ts) against toBinary.
 * Each tap is warmed (a burst of events published) before its round is timed: a new
 * worker thread compiles its publishing code on first use.
 * Args: --events=N (default 200,000) --updates=N (default 100,000) --rounds=N (default 3).
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { EventBus } from "../../../src/events/bus.js";
import { ByteBuffer, writeMessage } from "../../../src/runtime/binary-writer.js";
import { ClusterEventSchema, type ClusterEvent } from "../../../src/gen/dcos/v1/operator_pb.js";
import { NatsEventTap } from "../../../src/events/nats-tap.js";
import { FrameworkIDSchema } from "../../../src/gen/dcos/v1/common_pb.js";
import { TaskSchema, TaskState, TaskStatusSchema } from "../../../src/gen/dcos/v1/tasks_pb.js";
import { Metrics } from "../../../src/metrics/metrics.js";
import { silentLogger } from "../../../src/runtime/log.js";
import { Cluster, commandTask } from "../../master/harness.js";
import { NatsServer } from "../../support/nats-server.js";
import { waitFor } from "../../support/wait.js";
import { median, type Reporter } from "../report.js";

function flag(args: string[], name: string, fallback: number): number {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : fallback;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function tap(url: string, bus: EventBus, metrics: Metrics, bufferSize: number): NatsEventTap {
  return new NatsEventTap({ url, cluster: "bench", bus, metrics, logger: silentLogger(), bufferSize });
}

/** Events/s from the bus to NATS: TASK_UPDATED events with a status, 1,000 per event-loop turn. */
async function publishRate(url: string, events: number): Promise<{ perS: number; dropped: number }> {
  const bus = new EventBus();
  const metrics = new Metrics();
  const t = tap(url, bus, metrics, events);
  await t.ready;
  const t0 = performance.now();
  await burst(bus, metrics, events);
  const perS = events / ((performance.now() - t0) / 1000);
  await t.close();
  return { perS, dropped: metrics.value("events/tap_dropped") ?? 0 };
}

/** Puts `events` TASK_UPDATED events on the bus, 1,000 per event-loop turn, and waits until the tap has them all out. */
async function burst(bus: EventBus, metrics: Metrics, events: number): Promise<void> {
  const status = create(TaskStatusSchema, { taskId: { value: "task-1" }, state: TaskState.RUNNING, message: "running", timestamp: 1 });
  const frameworkId = create(FrameworkIDSchema, { value: "fw" });
  const done = (): number => (metrics.value("events/tap_published") ?? 0) + (metrics.value("events/tap_dropped") ?? 0);
  const target = done() + events;
  for (let i = 0; i < events; i++) {
    bus.publish("master@bench:5050", i, { case: "taskUpdated", value: { $typeName: "dcos.v1.ClusterEvent.TaskUpdated", frameworkId, status, state: TaskState.RUNNING } });
    if (i % 1000 === 999) await turn();
  }
  await waitFor(() => done() >= target, "the tap to publish every event", 120_000, 1);
}

/** Status updates/s the master handles (validated, recorded, published, forwarded). */
async function updateRate(c: Cluster, frameworkId: string, tasks: string[], updates: number): Promise<number> {
  const before = c.metric("master/valid_status_updates") ?? 0;
  const agent = c.agents[0]!;
  const t0 = performance.now();
  for (let i = 0; i < updates; i++) {
    agent.update(frameworkId, tasks[i % tasks.length]!, TaskState.RUNNING);
    if (i % 500 === 499) await c.clock.settle();
  }
  await waitFor(async () => {
    await c.clock.settle();
    return (c.metric("master/valid_status_updates") ?? 0) - before >= updates;
  }, "the master to handle every update", 120_000, 1);
  return updates / ((performance.now() - t0) / 1000);
}

/** µs per event: encoding each hot kind at publish time, the tap's writer against toBinary. */
function encodeCosts(report: Reporter, n: number): void {
  const status = create(TaskStatusSchema, { taskId: { value: "task-000123" }, state: TaskState.RUNNING, message: "running", timestamp: 1.7e9, agentId: { value: "m1-S17" }, uuid: new Uint8Array(16) });
  const frameworkId = create(FrameworkIDSchema, { value: "m1-0001" });
  const task = create(TaskSchema, { taskId: status.taskId, name: "web", frameworkId, agentId: status.agentId, state: TaskState.STAGING, statuses: [status] });
  const kinds: Record<string, ClusterEvent["kind"]> = {
    status_update: { case: "statusUpdate", value: { $typeName: "dcos.v1.ClusterEvent.StatusUpdate", frameworkId, status } },
    task_updated: { case: "taskUpdated", value: { $typeName: "dcos.v1.ClusterEvent.TaskUpdated", frameworkId, status, state: TaskState.RUNNING } },
    task_added: { case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } },
  };
  const event = (i: number, kind: ClusterEvent["kind"]): ClusterEvent => ({ $typeName: "dcos.v1.ClusterEvent", sequence: BigInt(i), timestamp: i, source: "master@bench:5050", kind });
  const perEvent = (encode: (e: ClusterEvent) => unknown, kind: ClusterEvent["kind"]): number => {
    const samples: number[] = [];
    for (let round = 0; round < 5; round++) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) encode(event(i, kind));
      samples.push(((performance.now() - t0) * 1000) / n);
    }
    return median(samples);
  };
  for (const [name, kind] of Object.entries(kinds)) {
    let out = new ByteBuffer();
    const write = (e: ClusterEvent): void => {
      if (out.pos > 1 << 20) out = new ByteBuffer();
      writeMessage(ClusterEventSchema, e, out);
    };
    report.compare(`encode_us_${name}_writer`, perEvent(write, kind), `encode_us_${name}_tobinary`, perEvent((e) => toBinary(ClusterEventSchema, e), kind), "µs/event", "lower");
  }
}

export async function run(report: Reporter, args: string[]): Promise<void> {
  const events = flag(args, "events", 200_000);
  const updates = flag(args, "updates", 100_000);
  const rounds = flag(args, "rounds", 3);
  encodeCosts(report, flag(args, "encodes", 50_000));
  const nats = await NatsServer.start();
  try {
    const published = await publishRate(nats.url, events);
    report.figure("tap_published_events_per_s", published.perS, "events/s", "higher", { events, dropped: published.dropped });

    const c = await Cluster.start({ agents: 1, agentResources: "cpus:1000;mem:1000000;disk:1000;ports:[31000-32000]" });
    const s = await c.subscribe("bench");
    const ids = Array.from({ length: 100 }, (_, i) => `t${i}`);
    await c.launch(s, [s.sink.offers()[0]!], ids.map((id) => commandTask(id, "cpus:0.1;mem:16")));
    const without: number[] = [];
    const withTap: number[] = [];
    const batches: number[] = [];
    for (let r = 0; r < rounds; r++) {
      without.push(await updateRate(c, s.frameworkId, ids, updates));
      const metrics = new Metrics();
      const t = tap(nats.url, c.master.events, metrics, 1_000_000);
      await t.ready;
      await burst(c.master.events, metrics, 20_000);
      const batchesBefore = metrics.value("events/tap_batches") ?? 0;
      withTap.push(await updateRate(c, s.frameworkId, ids, updates));
      await waitFor(() => metrics.value("events/tap_buffered") === 0, "the tap to drain", 60_000, 1);
      batches.push(updates / Math.max(1, (metrics.value("events/tap_batches") ?? 0) - batchesBefore));
      await t.close();
    }
    report.figure("tap_events_per_batch", median(batches), "events", "higher", { note: "events per transfer to the tap's worker while the master handles updates" });
    report.compare("master_status_updates_per_s_with_tap", median(withTap), "master_status_updates_per_s_without_tap", median(without), "updates/s", "higher");
    await c.stop();
  } finally {
    await nats.stop();
  }
}
