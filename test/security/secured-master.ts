/**
 * The master test cluster (ManualClock, scripted agents) with its Scheduler, Operator and
 * ReplicatedLog services on one loopback gRPC server that requires authentication, and a
 * client per principal (alice, bob, ops) plus an anonymous one.
 */
import { create, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { addSchedulerService } from "../../src/actors/master/scheduler-service.js";
import { SchedulerService, SubscribeRequestSchema, type Event, type SubscribeResponse } from "../../src/gen/dcos/v1/scheduler_pb.js";
import { OperatorService } from "../../src/gen/dcos/v1/operator_pb.js";
import { ReplicatedLogService } from "../../src/gen/dcos/v1/replicated_log_pb.js";
import { addOperatorService } from "../../src/operator/operator-service.js";
import { addReplicatedLogService, type FrameworkLogHost } from "../../src/raft/log-service.js";
import { FrameworkLogs } from "../../src/raft/framework-logs.js";
import { clientConstructor } from "../../src/runtime/grpc/service.js";
import { Acls } from "../../src/security/auth/acls.js";
import { credentialChannelOptions, type ClientCredential } from "../../src/security/auth/client-credential.js";
import { serviceSecurity } from "../../src/security/auth/security-config.js";
import type { ServiceSecurity } from "../../src/security/auth/service-security.js";
import { serverStream, unary } from "../support/grpc-loopback.js";
import { waitFor } from "../support/wait.js";
import { Cluster } from "../master/harness.js";

export const CREDENTIALS: readonly ClientCredential[] = [
  { principal: "alice", secret: "alice-secret-1" },
  { principal: "bob", secret: "bob-secret-22" },
  { principal: "ops", secret: "ops-secret-333" },
];

export type Who = "alice" | "bob" | "ops" | "anonymous";

export interface SecuredMaster {
  cluster: Cluster;
  security: ServiceSecurity;
  logs: FrameworkLogs;
  target: string;
  /** A client of `service` authenticated as `who`. */
  client(service: DescService, who: Who): grpc.Client;
  stop(): Promise<void>;
}

/** A FrameworkLogHost applying commands directly (no Raft): the service's checks are under test. */
function directLogHost(logs: FrameworkLogs): FrameworkLogHost {
  return { propose: async (cmd) => logs.apply(cmd), read: async (fn) => fn(logs) };
}

export async function startSecuredMaster(options: { acls?: unknown; authenticate?: boolean; maxLogBytes?: number; maxFrameworksPerPrincipal?: number; agents?: number } = {}): Promise<SecuredMaster> {
  const cluster = await Cluster.start({ agents: options.agents ?? 1 });
  const metrics = cluster.masterSystem.metrics;
  const security = serviceSecurity(
    {
      credentials: CREDENTIALS,
      acls: options.acls ? Acls.parse(options.acls) : undefined,
      authenticate: options.authenticate,
      limits: options.maxFrameworksPerPrincipal ? { maxFrameworksPerPrincipal: options.maxFrameworksPerPrincipal } : undefined,
    },
    metrics,
  );
  const logs = new FrameworkLogs(options.maxLogBytes);
  // As the node transport's server: its own limit is far above the public services' one.
  const server = new grpc.Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  addSchedulerService(server, cluster.facade, { reflection: false, security, metrics });
  addOperatorService(server, { master: cluster.facade, metrics, version: "test", security });
  addReplicatedLogService(server, directLogHost(logs), { metrics, security });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const target = `127.0.0.1:${port}`;
  const clients: grpc.Client[] = [];
  return {
    cluster,
    security,
    logs,
    target,
    client: (service, who) => {
      const credential = CREDENTIALS.find((c) => c.principal === who);
      const Client = clientConstructor(service);
      const c = new Client(target, grpc.credentials.createInsecure(), credentialChannelOptions(credential));
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      server.forceShutdown();
      await cluster.stop();
    },
  };
}

export const services = { scheduler: SchedulerService as DescService, operator: OperatorService as DescService, log: ReplicatedLogService as DescService };

export interface Stream {
  events: Event[];
  status: Promise<grpc.StatusObject>;
  cancel(): void;
}

/** A Subscribe stream of `client` with this FrameworkInfo. */
export function subscribeAs(m: SecuredMaster, client: grpc.Client, info: { name: string; principal?: string; id?: string; roles?: string[]; user?: string }): Stream {
  const events: Event[] = [];
  const call = serverStream<SubscribeResponse>(
    client,
    "subscribe",
    create(SubscribeRequestSchema, {
      frameworkInfo: { name: info.name, user: info.user ?? "nobody", roles: info.roles ?? ["*"], principal: info.principal ?? "", failoverTimeout: 60, id: info.id ? { value: info.id } : undefined },
    }),
  );
  call.on("data", (r: SubscribeResponse) => events.push(r.event!));
  call.on("error", () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
  return { events, status, cancel: () => call.cancel() };
}

export function until<T>(m: SecuredMaster, what: string, check: () => T | undefined | false): Promise<T> {
  return waitFor(async () => {
    await m.cluster.clock.settle();
    return check();
  }, what);
}

export async function subscribedOf(m: SecuredMaster, s: Stream): Promise<{ frameworkId: string; streamId: string }> {
  const e = await until(m, "SUBSCRIBED", () => s.events.find((x) => x.kind.case === "subscribed"));
  const v = e.kind.value as { frameworkId: { value: string }; streamId: string };
  return { frameworkId: v.frameworkId.value, streamId: v.streamId };
}

/** A unary call by method name with its request built from plain fields. */
export function call<T = unknown>(client: grpc.Client, service: DescService, name: string, fields: object = {}): Promise<T> {
  const method = service.methods.find((x) => x.localName === name);
  if (!method) throw new Error(`${service.typeName} has no method ${name}`);
  return unary<T>(client, name, create(method.input, fields as never));
}
