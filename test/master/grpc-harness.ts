/**
 * The master harness (a Cluster on a ManualClock) served over the real gRPC
 * SchedulerService on loopback, with a raw grpc-js client: unary calls and Subscribe
 * streams, and a poll that lets the manual clock run queued work.
 */
import { create, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { SchedulerServiceOptions } from "../../src/actors/master/scheduler-service.js";
import { addSchedulerService } from "../../src/actors/master/scheduler-service.js";
import { SchedulerService, SubscribeRequestSchema, type Event, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { waitFor } from "../support/wait.js";
import { Cluster, type ClusterOptions } from "./harness.js";

export interface Served {
  cluster: Cluster;
  server: grpc.Server;
  target: string;
  client: grpc.Client;
  stop(): Promise<void>;
}

export async function serve(options: { cluster?: ClusterOptions; service?: SchedulerServiceOptions } = {}): Promise<Served> {
  const cluster = await Cluster.start(options.cluster);
  const server = new grpc.Server();
  addSchedulerService(server, cluster.facade, options.service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const target = `127.0.0.1:${port}`;
  const Client = clientConstructor(SchedulerService as DescService);
  const client = new Client(target, grpc.credentials.createInsecure());
  return {
    cluster,
    server,
    target,
    client,
    stop: async () => {
      client.close();
      server.forceShutdown();
      await cluster.stop();
    },
  };
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;

export function unary(client: grpc.Client, name: string, request: unknown): Promise<unknown> {
  const fn = (client as unknown as Record<string, Unary>)[name]!.bind(client);
  return new Promise((resolve, reject) => fn(request, (err, res) => (err ? reject(err) : resolve(res))));
}

export interface Subscription {
  events: Event[];
  call: grpc.ClientReadableStream<SubscribeResponse>;
  ended: Promise<grpc.StatusObject>;
}

export function subscribe(s: Served, name: string, options: { failoverTimeout?: number; id?: string } = {}): Subscription {
  const events: Event[] = [];
  const call = (s.client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<SubscribeResponse>>).subscribe!(
    create(SubscribeRequestSchema, {
      frameworkInfo: { name, user: "nobody", roles: ["*"], failoverTimeout: options.failoverTimeout ?? 0, id: options.id ? { value: options.id } : undefined },
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
