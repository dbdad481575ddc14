/**
 * A gRPC server on a free loopback port with a raw grpc-js client for one of its services
 * (built from the protobuf-es descriptor), and calls by method name: the scaffolding the
 * SchedulerService and Operator service tests share.
 */
import type { DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";

export interface Loopback {
  server: grpc.Server;
  target: string;
  client: grpc.Client;
  close(): void;
}

/** Starts a server with what `add` registers and connects a client of `service` to it. */
export async function serveOnLoopback(service: DescService, add: (server: grpc.Server) => void): Promise<Loopback> {
  const server = new grpc.Server();
  add(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const target = `127.0.0.1:${port}`;
  const Client = clientConstructor(service);
  const client = new Client(target, grpc.credentials.createInsecure());
  return {
    server,
    target,
    client,
    close: () => {
      client.close();
      server.forceShutdown();
    },
  };
}

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res?: unknown) => void) => void;

/** A unary call by its method name ("getState", "accept"). */
export function unary<T = unknown>(client: grpc.Client, name: string, request: unknown = {}): Promise<T> {
  const fn = (client as unknown as Record<string, Unary>)[name]!.bind(client);
  return new Promise((resolve, reject) => fn(request, (err, res) => (err ? reject(err) : resolve(res as T))));
}

/** A server-streaming call by its method name ("subscribe"). */
export function serverStream<T>(client: grpc.Client, name: string, request: unknown = {}): grpc.ClientReadableStream<T> {
  return (client as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<T>>)[name]!(request);
}
