/**
 * The master as schedulers (and the gRPC SchedulerService) see it: one promise-returning
 * method per scheduler call, each run inside the master actor. Errors are DcosErrors with
 * the gRPC code to answer with.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { QuotaInfo, WeightInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type {
  AcceptRequest,
  AcknowledgeBatchRequest,
  AcknowledgeBatchResponseSchema,
  AcknowledgeRequest,
  DeclineRequest,
  KillRequest,
  MessageRequest,
  ReconcileRequest,
  ReviveRequest,
  ShutdownRequest,
  SubscribeRequest,
  SuppressRequest,
  TeardownRequest,
  UpdateFrameworkRequest,
} from "../../gen/dcos/v1/scheduler_pb.js";
import { Facade } from "../../runtime/facade.js";
import { accept } from "./accept.js";
import type { MasterCore } from "./core.js";
import type { EventSink, FrameworkRecord } from "./framework.js";
import { removeFramework, streamClosed, streamStalled, subscribe, updateFramework, type Subscription } from "./frameworks.js";
import type { Master } from "./master.js";
import { updateQuota, updateWeights } from "./operator-calls.js";
import { operatorOperation, type OperatorOperationRequest } from "./operator-operations.js";
import { reconcile } from "./reconciliation.js";
import { callerFramework, decline, frameworkMessage, kill, revive, shutdownExecutor, suppress } from "./scheduler-calls.js";
import { acknowledge, acknowledgeBatch } from "./status-updates.js";

interface FrameworkCall {
  frameworkId?: { value: string };
  streamId: string;
}

export class MasterFacade extends Facade<Master> {
  constructor(readonly master: Master) {
    super(master);
  }

  /** Runs fn for the calling framework after checking it holds the framework's current stream. */
  private forFramework<R extends FrameworkCall, T>(request: R, fn: (core: MasterCore, f: FrameworkRecord, request: R) => T | Promise<T>): Promise<T> {
    return this.call((m) => fn(m.core, callerFramework(m.core, request.frameworkId, request.streamId), request));
  }

  subscribe(request: SubscribeRequest, sink: EventSink): Promise<Subscription> {
    return this.call((m) => subscribe(m.core, request, sink));
  }

  /** The scheduler's stream ended (client gone or cancelled). */
  streamClosed(frameworkId: string, streamId: string): Promise<void> {
    return this.call((m) => streamClosed(m.core, frameworkId, streamId));
  }

  /** The stream was cut because its scheduler read too slowly (see event-stream.ts). */
  streamStalled(frameworkId: string, streamId: string, why: string): Promise<void> {
    return this.call((m) => streamStalled(m.core, frameworkId, streamId, why));
  }

  accept(request: AcceptRequest): Promise<void> {
    return this.forFramework(request, accept);
  }

  decline(request: DeclineRequest): Promise<void> {
    return this.forFramework(request, decline);
  }

  revive(request: ReviveRequest): Promise<void> {
    return this.forFramework(request, revive);
  }

  suppress(request: SuppressRequest): Promise<void> {
    return this.forFramework(request, suppress);
  }

  kill(request: KillRequest): Promise<void> {
    return this.forFramework(request, kill);
  }

  shutdown(request: ShutdownRequest): Promise<void> {
    return this.forFramework(request, shutdownExecutor);
  }

  acknowledge(request: AcknowledgeRequest): Promise<void> {
    return this.forFramework(request, acknowledge);
  }

  acknowledgeBatch(request: AcknowledgeBatchRequest): Promise<MessageInitShape<typeof AcknowledgeBatchResponseSchema>> {
    return this.forFramework(request, acknowledgeBatch);
  }

  reconcile(request: ReconcileRequest): Promise<void> {
    return this.forFramework(request, reconcile);
  }

  message(request: MessageRequest): Promise<void> {
    return this.forFramework(request, frameworkMessage);
  }

  teardown(request: TeardownRequest): Promise<void> {
    return this.forFramework(request, (core, f) => {
      core.metrics.message("teardown");
      return removeFramework(core, f, "the framework tore itself down");
    });
  }

  updateFramework(request: UpdateFrameworkRequest): Promise<void> {
    return this.forFramework(request, (core, f, r) => {
      core.metrics.message("update_framework");
      return updateFramework(core, f, r);
    });
  }

  /** Operator: sets role weights (persisted, then given to the allocator). */
  updateWeights(infos: readonly WeightInfo[]): Promise<void> {
    return this.call((m) => updateWeights(m.core, infos));
  }

  /** Operator: sets role quota (persisted in the registry). */
  updateQuota(infos: readonly QuotaInfo[]): Promise<void> {
    return this.call((m) => updateQuota(m.core, infos));
  }

  /** Operator: RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES on an agent. */
  operateResources(request: OperatorOperationRequest): Promise<void> {
    return this.call((m) => operatorOperation(m.core, request));
  }

  /** Reads the master's state inside the actor (tests, the future /state endpoint). */
  inspect<T>(fn: (core: MasterCore) => T): Promise<T> {
    return this.call((m) => fn(m.core));
  }
}
