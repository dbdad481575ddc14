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
  type SubscribeRequest,
  type SubscribeResponse,
} from "../../gen/dcos/v1/scheduler_pb.js";
import { toStatus } from "../../runtime/grpc/service.js";
import type { Metrics } from "../../metrics/metrics.js";
import { addGuardedService, callerOf } from "../../security/auth/grpc-guard.js";
import type { Caller } from "../../security/auth/caller.js";
import { effectivePrincipal, mayActFor, notOwner, openSecurity, type ServiceSecurity } from "../../security/auth/service-security.js";
import type { Clock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { batchWrites, DEFAULT_EVENT_STREAM_LIMITS, EventStream, type EventStreamLimits } from "./event-stream.js";
import { subscribeResponse, subscribeResponseBytes } from "./subscribe-encoding.js";
import type { FrameworkGuard, MasterFacade } from "./master-facade.js";
import { addReflectionService } from "../../runtime/grpc/reflection.js";
import { reconcileRequestReader } from "./reconcile-request-reader.js";

type UnaryName = Exclude<keyof typeof SchedulerService.method, "subscribe">;

/** The checks a framework call passes inside the master: the caller owns the framework; run_tasks; mount_host_paths. */
function frameworkGuard(security: ServiceSecurity, caller: Caller): FrameworkGuard {
  return {
    checkOwner: (frameworkId, principal) => {
      if (!mayActFor(security, caller, principal)) throw notOwner(security, caller, `Framework ${frameworkId}`, principal);
    },
    userProblem: (principal, user) => {
      const subject = { ...caller, principal: principal || caller.principal } as Caller;
      // On a cluster that requires authentication, root needs a rule that names it.
      const rootNeedsRule = user === "root" && security.authenticator.required;
      const allowed = rootNeedsRule ? security.authorizer.acls.ruleDecision("run_tasks", subject.principal, user) === true : security.authorizer.allows(subject, "run_tasks", user);
      if (allowed) return undefined;
      security.authorizer.count("run_tasks");
      const why = rootNeedsRule ? " (ACL run_tasks: running as root needs a rule allowing user 'root')" : " (ACL run_tasks)";
      return `principal '${principal}' is not authorized to run tasks as user '${user || "(none)"}'${why}`;
    },
    hostPathProblem: (principal, hostPath) => {
      const subject = { ...caller, principal: principal || caller.principal } as Caller;
      if (security.authorizer.allows(subject, "mount_host_paths", hostPath)) return undefined;
      security.authorizer.count("mount_host_paths");
      return `principal '${principal}' is not authorized to mount host path '${hostPath}' (ACL mount_host_paths)`;
    },
  };
}

/**
 * SUBSCRIBE and UPDATE_FRAMEWORK: framework_info.principal becomes the authenticated one
 * (naming another is refused) and every role needs the ACL register_frameworks.
 */
function authorizeFrameworkInfo(security: ServiceSecurity, caller: Caller, info: { principal: string; roles: string[] } | undefined): void {
  if (!info) return;
  info.principal = effectivePrincipal(security, caller, info.principal, "framework_info.principal");
  const subject = { ...caller, principal: info.principal || caller.principal } as Caller;
  for (const role of info.roles) security.authorizer.check(subject, "register_frameworks", role, `register a framework in role '${role}'`);
}

/** Unary method → the facade call that serves it. */
function unaryCalls(master: MasterFacade, security: ServiceSecurity): Record<UnaryName, (request: never, caller: Caller, expiresAt?: number) => Promise<object | void>> {
  const g = (caller: Caller, expiresAt?: number): FrameworkGuard => ({ ...frameworkGuard(security, caller), expiresAt });
  return {
    accept: (r, c, e) => master.accept(r, g(c, e)),
    decline: (r, c, e) => master.decline(r, g(c, e)),
    acceptInverseOffers: (r, c, e) => master.acceptInverseOffers(r, g(c, e)),
    declineInverseOffers: (r, c, e) => master.declineInverseOffers(r, g(c, e)),
    revive: (r, c, e) => master.revive(r, g(c, e)),
    suppress: (r, c, e) => master.suppress(r, g(c, e)),
    kill: (r, c, e) => master.kill(r, g(c, e)),
    shutdown: (r, c, e) => master.shutdown(r, g(c, e)),
    acknowledge: (r, c, e) => master.acknowledge(r, g(c, e)),
    acknowledgeBatch: (r, c, e) => master.acknowledgeBatch(r, g(c, e)),
    reconcile: (r, c, e) => master.reconcile(r, g(c, e)),
    message: (r, c, e) => master.message(r, g(c, e)),
    teardown: (r, c, e) => master.teardown(r, g(c, e)),
    updateFramework: (r: { frameworkInfo?: { principal: string; roles: string[] } }, c, e) => {
      authorizeFrameworkInfo(security, c, r.frameworkInfo);
      return master.updateFramework(r as never, g(c, e));
    },
  };
}

/** The call's deadline on `clock` (the master's), or undefined when the caller set none. */
function expiresAt(call: grpc.ServerUnaryCall<Message, Message>, clock: Clock): number | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? clock.now() + (ms - Date.now()) : undefined;
}

function unaryHandler(output: DescMessage, clock: Clock, fn: (request: never, caller: Caller, expiresAt?: number) => Promise<object | void>): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request as never, callerOf(call), expiresAt(call, clock)))
      .then(
        (fields) => callback(null, create(output, (fields ?? undefined) as Record<string, unknown> | undefined) as Message),
        (err: unknown) => callback(toStatus(err)),
      );
  };
}

interface SubscribeOptions {
  log?: Logger;
  clock: Clock;
  limits: EventStreamLimits;
  security: ServiceSecurity;
  /** The open streams (for the gauges of what waits in them). */
  streams: Set<EventStream>;
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
      // Encoded here, not by grpc-js, so that the stream counts the bytes it has written.
      (event) => subscribeResponseBytes(subscribeResponse(event)),
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
      call.request.acceptsUpdateBatches,
    );
    o.streams.add(sink);
    // Backed up or caught up: no offers to the framework meanwhile (schedulerBackedUp).
    let backedUp = false;
    const tellBackedUp = (): void => {
      if (!subscription || gone) return;
      master.schedulerBackedUp(subscription.frameworkId, subscription.streamId, backedUp).catch((err: unknown) => o.log?.warn({ err }, "Telling the master about a backed-up stream failed"));
    };
    sink.onBackedUp = (b) => {
      backedUp = b;
      tellBackedUp();
    };
    const closed = (): void => {
      o.streams.delete(sink);
      if (gone && !subscription) return;
      gone = true;
      report();
    };
    call.on("cancelled", closed);
    call.on("close", closed);
    call.on("error", closed);
    Promise.resolve()
      .then(() => {
        authorizeFrameworkInfo(o.security, callerOf(call), call.request.frameworkInfo);
        return master.subscribe(call.request, sink, { maxFrameworksPerPrincipal: o.security.limits.maxFrameworksPerPrincipal });
      })
      .then(
      (s) => {
        subscription = s;
        if (gone) report();
        else if (backedUp) tellBackedUp();
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
  /** Who may call (default: anyone, permissive ACLs). */
  security?: ServiceSecurity;
  metrics?: Metrics;
}

/** Hosts the SchedulerService (and reflection for it) on a node's gRPC server. */
export function addSchedulerService(server: grpc.Server, master: MasterFacade, options: SchedulerServiceOptions = {}): void {
  const limits = { ...DEFAULT_EVENT_STREAM_LIMITS, ...options.limits };
  const security = options.security ?? openSecurity(options.metrics);
  const streams = new Set<EventStream>();
  const subscribe = subscribeHandler(master, { log: options.log, clock: master.master.clock, limits, security, streams });
  if (options.metrics) {
    const waiting = (): { events: number; max: number; blocked: number; bytes: number } => {
      let events = 0;
      let max = 0;
      let blocked = 0;
      let bytes = 0;
      for (const s of streams) {
        events += s.queued;
        if (s.queued > max) max = s.queued;
        if (s.blocked) blocked++;
        bytes += s.pendingBytes;
      }
      return { events, max, blocked, bytes };
    };
    const m = options.metrics;
    m.gauge("master/scheduler_streams_blocked", () => waiting().blocked, "Subscribe streams waiting for their scheduler to read (backpressure)");
    m.gauge("master/scheduler_stream_queued_events", () => waiting().events, "Events queued in all Subscribe streams, unread by their schedulers");
    m.gauge("master/scheduler_stream_queued_events_max", () => waiting().max, "Events queued in the Subscribe stream with most");
    m.gauge("master/scheduler_stream_pending_kb", () => Math.round(waiting().bytes / 1024), "Encoded events written into Subscribe streams and not yet taken by HTTP/2 (KiB)");
  }
  const handlers: grpc.UntypedServiceImplementation = { subscribe: subscribe as grpc.UntypedHandleCall };
  for (const [name, fn] of Object.entries(unaryCalls(master, security)) as [UnaryName, (r: never, c: Caller, e?: number) => Promise<object | void>][]) {
    handlers[name] = unaryHandler(SchedulerService.method[name].output, master.master.clock, fn) as grpc.UntypedHandleCall;
  }
  addGuardedService(server, SchedulerService, handlers, {
    authenticator: security.authenticator,
    maxRequestBytes: security.maxRequestBytes,
    metrics: options.metrics,
    responseSerializers: { subscribe: subscribeResponseBytes },
    // A launch the leader would refuse as busy is refused from its bytes, never decoded.
    requestGates: { accept: (bytes) => master.refuseEncodedAccept(bytes) },
    // The frameworks' questions after a failover, read with an agent's id shared by its tasks (reconcile-request-reader.ts).
    requestDecoders: { reconcile: reconcileRequestReader() },
  });
  if (options.reflection ?? true) addReflectionService(server, [file_dcos_v1_scheduler]);
}
