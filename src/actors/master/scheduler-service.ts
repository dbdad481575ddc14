/**
 * The gRPC SchedulerService on top of the MasterFacade. Subscribe is a server stream: the
 * master's EventSink (an EventStream, which respects backpressure) writes SubscribeResponses
 * on it; when the client goes away, or reads too slowly and is disconnected, the master
 * hears streamClosed / streamStalled and starts the framework's failover timeout. Unary calls answer with
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
import type { Clock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { batchWrites, DEFAULT_EVENT_STREAM_LIMITS, EventStream, type EventStreamLimits } from "./event-stream.js";
import type { MasterFacade } from "./master-facade.js";
import { addReflectionService } from "../../runtime/grpc/reflection.js";

type UnaryName = Exclude<keyof typeof SchedulerService.method, "subscribe">;

/** Unary method → the facade call that serves it. */
function unaryCalls(master: MasterFacade): Record<UnaryName, (request: never) => Promise<object | void>> {
  return {
    accept: (r) => master.accept(r),
    decline: (r) => master.decline(r),
    revive: (r) => master.revive(r),
    suppress: (r) => master.suppress(r),
    kill: (r) => master.kill(r),
    shutdown: (r) => master.shutdown(r),
    acknowledge: (r) => master.acknowledge(r),
    acknowledgeBatch: (r) => master.acknowledgeBatch(r),
    reconcile: (r) => master.reconcile(r),
    message: (r) => master.message(r),
    teardown: (r) => master.teardown(r),
    updateFramework: (r) => master.updateFramework(r),
  };
}

function unaryHandler(output: DescMessage, fn: (request: never) => Promise<object | void>): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    fn(call.request as never).then(
      (fields) => callback(null, create(output, (fields ?? undefined) as Record<string, unknown> | undefined) as Message),
      (err: unknown) => callback(toStatus(err)),
    );
  };
}

interface SubscribeOptions {
  log?: Logger;
  clock: Clock;
  limits: EventStreamLimits;
}

function subscribeHandler(master: MasterFacade, o: SubscribeOptions): grpc.handleServerStreamingCall<SubscribeRequest, SubscribeResponse> {
  return (call) => {
    let subscription: { frameworkId: string; streamId: string } | undefined;
    let gone = false;
    let stalled: string | undefined;
    /** Tells the master, once, that this stream is over. */
    const report = (): void => {
      if (!subscription) return;
      const s = subscription;
      subscription = undefined;
      const told = stalled === undefined ? master.streamClosed(s.frameworkId, s.streamId) : master.streamStalled(s.frameworkId, s.streamId, stalled);
      told.catch((err: unknown) => o.log?.warn({ err }, "Telling the master about a closed stream failed"));
    };
    batchWrites(call);
    const sink = new EventStream(
      call,
      (event: Event) => create(SubscribeResponseSchema, { event }),
      () => {
        if (gone) return;
        gone = true;
        call.end();
      },
      (why) => {
        if (gone) return;
        gone = true;
        stalled = why;
        call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `The master disconnected this scheduler because ${why}; subscribe again` });
        report();
      },
      o.clock,
      o.limits,
    );
    const closed = (): void => {
      if (gone && !subscription) return;
      gone = true;
      report();
    };
    call.on("cancelled", closed);
    call.on("close", closed);
    call.on("error", closed);
    master.subscribe(call.request, sink).then(
      (s) => {
        subscription = s;
        if (gone) report();
      },
      (err: unknown) => {
        gone = true;
        call.emit("error", toStatus(err));
      },
    );
  };
}

export interface SchedulerServiceOptions {
  /** Also serve gRPC reflection (default true). */
  reflection?: boolean;
  log?: Logger;
  /** Backpressure bounds of each Subscribe stream. */
  limits?: Partial<EventStreamLimits>;
}

/** Hosts the SchedulerService (and reflection for it) on a node's gRPC server. */
export function addSchedulerService(server: grpc.Server, master: MasterFacade, options: SchedulerServiceOptions = {}): void {
  const limits = { ...DEFAULT_EVENT_STREAM_LIMITS, ...options.limits };
  const subscribe = subscribeHandler(master, { log: options.log, clock: master.master.clock, limits });
  const handlers: grpc.UntypedServiceImplementation = { subscribe: subscribe as grpc.UntypedHandleCall };
  for (const [name, fn] of Object.entries(unaryCalls(master)) as [UnaryName, (r: never) => Promise<void>][]) {
    handlers[name] = unaryHandler(SchedulerService.method[name].output, fn) as grpc.UntypedHandleCall;
  }
  server.addService(serviceDefinition(SchedulerService), handlers);
  if (options.reflection ?? true) addReflectionService(server, [file_dcos_v1_scheduler]);
}
