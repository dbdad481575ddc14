/**
 * The master harness (a Cluster on a ManualClock) served over the real gRPC
 * SchedulerService on loopback, with a raw grpc-js client: unary calls and Subscribe
 * streams, and a poll that lets the manual clock run queued work.
 */
import { create, type DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import type { SchedulerServiceOptions } from "../../src/actors/master/scheduler-service.js";
import { addSchedulerService } from "../../src/actors/master/scheduler-service.js";
import type { LaunchAdmissionLimits } from "../../src/actors/master/launch-admission.js";
import { MasterFacade } from "../../src/actors/master/master-facade.js";
import { SchedulerService, SubscribeRequestSchema, type Event, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { serveOnLoopback, serverStream } from "../support/grpc-loopback.js";
import { waitFor } from "../support/wait.js";
import { Cluster, type ClusterOptions } from "./harness.js";

export { unary } from "../support/grpc-loopback.js";

export interface Served {
  cluster: Cluster;
  server: grpc.Server;
  target: string;
  client: grpc.Client;
  stop(): Promise<void>;
}

export async function serve(options: { cluster?: ClusterOptions; service?: SchedulerServiceOptions; admission?: Partial<LaunchAdmissionLimits> } = {}): Promise<Served> {
  const cluster = await Cluster.start(options.cluster);
  if (options.admission) cluster.facade = new MasterFacade(cluster.master, options.admission);
  const loopback = await serveOnLoopback(SchedulerService as DescService, (server) => addSchedulerService(server, cluster.facade, { metrics: cluster.masterSystem.metrics, ...options.service }));
  return {
    cluster,
    ...loopback,
    stop: async () => {
      loopback.close();
      await cluster.stop();
    },
  };
}

export interface Subscription {
  events: Event[];
  call: grpc.ClientReadableStream<SubscribeResponse>;
  ended: Promise<grpc.StatusObject>;
}

export function subscribe(s: Served, name: string, options: { failoverTimeout?: number; id?: string; acceptsUpdateBatches?: boolean } = {}): Subscription {
  const events: Event[] = [];
  const call = serverStream<SubscribeResponse>(
    s.client,
    "subscribe",
    create(SubscribeRequestSchema, {
      frameworkInfo: { name, user: "nobody", roles: ["*"], failoverTimeout: options.failoverTimeout ?? 0, id: options.id ? { value: options.id } : undefined },
      acceptsUpdateBatches: options.acceptsUpdateBatches ?? false,
    }),
  );
  call.on("data", (r: SubscribeResponse) => events.push(r.event!));
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  call.on("error", () => undefined);
  return { events, call, ended };
}

/** Polls a condition while letting the master's manual clock run its queued work. */
export function until<T>(s: Served, what: string, check: () => T | undefined | false, timeoutMs?: number): Promise<T> {
  return waitFor(
    async () => {
      await s.cluster.clock.settle();
      return check();
    },
    what,
    timeoutMs,
  );
}

/** The SUBSCRIBED event's framework id and stream id. */
export async function subscribed(s: Served, sub: Subscription): Promise<{ frameworkId: { value: string }; streamId: string }> {
  const e = await until(s, "SUBSCRIBED", () => sub.events.find((x) => x.kind.case === "subscribed"));
  return e.kind.value as { frameworkId: { value: string }; streamId: string };
}
