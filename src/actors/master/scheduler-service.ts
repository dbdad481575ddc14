/**
 * The gRPC SchedulerService on top of the MasterFacade. Subscribe is a server stream: the
 * master's EventSink writes SubscribeResponses on it; when the client goes away the master
 * hears streamClosed and starts the framework's failover timeout. Unary calls answer with
 * an empty response or the DcosError's status (INVALID_ARGUMENT, NOT_FOUND,
 * FAILED_PRECONDITION, …).
 */
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type Message } from "@bufbuild/protobuf";
import {
  file_dcos_v1_scheduler,
  SchedulerService,
  SubscribeResponseSchema,
  type Event,
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../gen/dcos/v1/scheduler_pb.js";
import { serviceDefinition, toStatus } from "../../runtime/grpc/service.js";
import type { Logger } from "../../runtime/log.js";
import type { EventSink } from "./framework.js";
import type { MasterFacade } from "./master-facade.js";
import { addReflectionService } from "../../runtime/grpc/reflection.js";

type UnaryName = Exclude<keyof typeof SchedulerService.method, "subscribe">;

/** Unary method → the facade call that serves it. */
function unaryCalls(master: MasterFacade): Record<UnaryName, (request: never) => Promise<void>> {
  return {
    accept: (r) => master.accept(r),
    decline: (r) => master.decline(r),
    revive: (r) => master.revive(r),
    suppress: (r) => master.suppress(r),
    kill: (r) => master.kill(r),
    shutdown: (r) => master.shutdown(r),
    acknowledge: (r) => master.acknowledge(r),
    reconcile: (r) => master.reconcile(r),
    message: (r) => master.message(r),
    teardown: (r) => master.teardown(r),
    updateFramework: (r) => master.updateFramework(r),
  };
}

function unaryHandler(output: DescMessage, fn: (request: never) => Promise<void>): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    fn(call.request as never).then(
      () => callback(null, create(output) as Message),
      (err: unknown) => callback(toStatus(err)),
    );
  };
}

function subscribeHandler(master: MasterFacade, log: Logger | undefined): grpc.handleServerStreamingCall<SubscribeRequest, SubscribeResponse> {
  return (call) => {
    let subscription: { frameworkId: string; streamId: string } | undefined;
    let gone = false;
    const sink: EventSink = {
      send: (event: Event) => {
        if (!gone) call.write(create(SubscribeResponseSchema, { event }));
      },
      close: () => {
        if (gone) return;
        gone = true;
        call.end();
      },
    };
    const closed = (): void => {
      if (gone && !subscription) return;
      gone = true;
      if (subscription) {
        const s = subscription;
        subscription = undefined;
        master.streamClosed(s.frameworkId, s.streamId).catch((err: unknown) => log?.warn({ err }, "streamClosed failed"));
      }
    };
    call.on("cancelled", closed);
    call.on("close", closed);
    call.on("error", closed);
    master.subscribe(call.request, sink).then(
      (s) => {
        subscription = s;
        if (gone) closed();
      },
      (err: unknown) => {
        gone = true;
        call.emit("error", toStatus(err));
      },
    );
  };
}

/** Hosts the SchedulerService (and reflection for it) on a node's gRPC server. */
export function addSchedulerService(server: grpc.Server, master: MasterFacade, options: { reflection?: boolean; log?: Logger } = {}): void {
  const handlers: grpc.UntypedServiceImplementation = { subscribe: subscribeHandler(master, options.log) as grpc.UntypedHandleCall };
  for (const [name, fn] of Object.entries(unaryCalls(master)) as [UnaryName, (r: never) => Promise<void>][]) {
    handlers[name] = unaryHandler(SchedulerService.method[name].output, fn) as grpc.UntypedHandleCall;
  }
  server.addService(serviceDefinition(SchedulerService), handlers);
  if (options.reflection ?? true) addReflectionService(server, [file_dcos_v1_scheduler]);
}
