/**
 * The offers benchmark's framework as a real gRPC client of the SchedulerService, run in a
 * worker thread (its own event loop, as a framework in its own process would have), so
 * the master's thread pays only the server side. The parent posts "stop"; the worker
 * answers with its SchedulerResult and exits.
 */
import { create, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { parentPort, workerData } from "node:worker_threads";
import { SchedulerService, SubscribeRequestSchema, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { channelCredentials } from "../../src/security/pki/grpc-credentials.js";
import type { TlsMaterial } from "../../src/security/pki/tls-files.js";
import { BenchScheduler, type SchedulerCalls, type SchedulerSettings } from "./offers-scheduler.js";

export interface GrpcSchedulerData {
  target: string;
  settings: SchedulerSettings;
  /** Mutual TLS to the master: the cluster CA and a principal's certificate (PEM); none: plaintext. */
  tls?: TlsMaterial;
}

/** The worker's channel credentials: TLS with the principal's certificate, or plaintext. */
export function schedulerCredentials(data: GrpcSchedulerData): grpc.ChannelCredentials {
  return data.tls ? channelCredentials(data.tls) : grpc.credentials.createInsecure();
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null) => void) => void;

function connect(data: GrpcSchedulerData): { scheduler: BenchScheduler; stop: () => void } {
  const Client = clientConstructor(SchedulerService as DescService);
  const client = new Client(data.target, schedulerCredentials(data));
  const unary = (name: string) => {
    const fn = (client as unknown as Record<string, Unary>)[name]!.bind(client);
    return (request: unknown) => new Promise<void>((resolve, reject) => fn(request, (err) => (err ? reject(err) : resolve())));
  };
  const calls: SchedulerCalls = { accept: unary("accept"), decline: unary("decline"), acknowledge: unary("acknowledge"), acknowledgeBatch: unary("acknowledgeBatch") };
  const scheduler = new BenchScheduler(calls, data.settings);
  const stream = (client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<SubscribeResponse>>).subscribe!(
    create(SubscribeRequestSchema, { frameworkInfo: { name: "bench", user: "nobody", roles: ["*"] } }),
  );
  stream.on("data", (r: SubscribeResponse) => {
    const first = !scheduler.streamId;
    scheduler.onEvent(r.event!);
    if (first && scheduler.streamId) parentPort?.postMessage({ subscribed: true });
  });
  stream.on("error", () => undefined);
  return {
    scheduler,
    stop: () => {
      stream.cancel();
      client.close();
    },
  };
}

if (parentPort && workerData) {
  const { scheduler, stop } = connect(workerData as GrpcSchedulerData);
  parentPort.on("message", (m: { stop?: boolean }) => {
    if (!m.stop) return;
    parentPort!.postMessage({ result: scheduler.result() });
    stop();
    parentPort!.close();
  });
}
