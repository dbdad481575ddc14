/**
 * The master as schedulers (and the gRPC SchedulerService) see it: one promise-returning
 * method per scheduler call, each run inside the master actor. Errors are DcosErrors with
 * the gRPC code to answer with.
 */
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { MachineID, MaintenanceSchedule, QuotaConfig, QuotaInfo, WeightInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type {
  AcceptRequest,
  AcknowledgeBatchRequest,
  AcknowledgeBatchResponseSchema,
  AcknowledgeRequest,
  DeclineRequest,
  AcceptInverseOffersRequest,
  DeclineInverseOffersRequest,
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
import { TaskState } from "../../gen/dcos/v1/tasks_pb.js";
import { Facade } from "../../runtime/facade.js";
import type { GateRefusal } from "../../runtime/grpc/service.js";
import { DEFAULT_LAUNCH_ADMISSION, LaunchAdmission, type LaunchAdmissionLimits } from "./launch-admission.js";
import { Code, DcosError } from "../../runtime/error.js";
import { accept } from "./accept.js";
import { launchedTasksInWire } from "./accept-wire.js";
import type { Counter } from "../../metrics/metrics.js";
import type { MasterState } from "./master-state.js";
import type { MasterView } from "./master-view.js";
import type { EventSink, FrameworkRecord } from "./framework-record.js";
import { removeFramework, schedulerBackedUp, streamClosed, streamStalled, subscribe, updateFramework, type Subscription } from "./framework-subscription.js";
import type { Master } from "./master.js";
import { deactivateAgent, drainAgent, reactivateAgent } from "./drain.js";
import { acceptInverseOffers, declineInverseOffers, startMaintenance, stopMaintenance, updateMaintenanceSchedule } from "./maintenance.js";
import { updateQuota, updateWeights } from "./operator-calls.js";
import { operatorOperation, type OperatorOperationRequest } from "./operator-operations.js";
import { reconcile } from "./reconciliation.js";
import { callerFramework, decline, frameworkMessage, kill, revive, shutdownExecutor, suppress } from "./scheduler-calls.js";
import { acknowledge, acknowledgeBatch } from "./status-updates.js";

interface FrameworkCall {
  $typeName: string;
  frameworkId?: { value: string };
  streamId: string;
}

/** The tasks an ACCEPT launches (LAUNCH and LAUNCH_GROUP): what admission control weighs. */
function launchedTasks(request: AcceptRequest): number {
  let n = 0;
  for (const op of request.operations) {
    if (op.kind.case === "launch") n += op.kind.value.taskInfos.length;
    else if (op.kind.case === "launchGroup") n += op.kind.value.taskGroup?.tasks.length ?? 0;
  }
  return n;
}

/**
 * What the public service decided about its caller, checked inside the master against the
 * framework a call names (absent for trusted in-process callers).
 */
export interface FrameworkGuard {
  /** Throws PERMISSION_DENIED unless the caller may act for a framework of this principal. */
  checkOwner(frameworkId: string, principal: string): void;
  /** Why a framework of this principal may not run a task as `user` (ACL run_tasks). */
  userProblem?(principal: string, user: string): string | undefined;
  /** Why a framework of this principal may not mount this host path into a container (ACL mount_host_paths). */
  hostPathProblem?(principal: string, hostPath: string): string | undefined;
  /** The caller's deadline on the master's clock: a call still queued past it is not run (DEADLINE_EXCEEDED). */
  expiresAt?: number;
}

/** Limits a SUBSCRIBE is checked against. */
export interface SubscribeLimits {
  /** Frameworks one principal may have registered at once. */
  maxFrameworksPerPrincipal?: number;
}

export class MasterFacade extends Facade<Master> {
  /** Admission control of launches and the deadline of queued framework calls (launch-admission.ts). */
  readonly admission: LaunchAdmission;
  private readonly refusedUndecoded: Counter;

  constructor(
    readonly master: Master,
    admission: Partial<LaunchAdmissionLimits> = {},
  ) {
    super(master);
    const launching = () => (master.leading ? master.core.counts.tasksIn(TaskState.STAGING) : 0);
    this.admission = new LaunchAdmission(master.clock, launching, { ...DEFAULT_LAUNCH_ADMISSION, ...admission }, master.system.metrics);
    this.refusedUndecoded = master.system.metrics.counter(
      "master/launches_refused_undecoded",
      "ACCEPTs with tasks refused RESOURCE_EXHAUSTED from their bytes, before decoding (also counted in master/launches_refused)",
    );
  }

  /**
   * An encoded ACCEPT refused before it is decoded (the public SchedulerService's request
   * gate): its tasks counted from the bytes (accept-wire.ts) and weighed as a decoded
   * launch's are. undefined: decode it (admitted, no tasks, or bytes the decoder must judge).
   */
  refuseEncodedAccept(bytes: Uint8Array): GateRefusal | undefined {
    const tasks = launchedTasksInWire(bytes);
    if (!tasks) return undefined;
    const error = this.admission.wouldRefuse(tasks);
    if (!error) return undefined;
    // Counted once answered: the guard answers only an authenticated caller.
    return {
      error,
      answered: () => {
        this.admission.countRefused(error);
        this.refusedUndecoded.inc();
      },
    };
  }

  /**
   * Runs fn for the calling framework after checking it holds the framework's current
   * stream. The call waits in the master's queue as a QueuedCall. `expires`: not run if
   * its caller's deadline passed meanwhile (calls whose caller acts on the failure: ACCEPT,
   * RECONCILE; a DECLINE or an acknowledgement still frees what it names, late or not);
   * `tasks` > 0 (a launch) may be refused before it queues.
   */
  private forFramework<R extends FrameworkCall, T>(
    request: R,
    fn: (core: MasterState, f: FrameworkRecord, request: R) => T | Promise<T>,
    guard: FrameworkGuard | undefined,
    { tasks = 0, expires = false }: { tasks?: number; expires?: boolean } = {},
  ): Promise<T> {
    const refused = this.admission.check(tasks);
    if (refused) return Promise.reject(refused);
    const queued = this.admission.queued(tasks);
    const ran = this.call((m) => {
      this.admission.started(queued, expires ? guard?.expiresAt : undefined, request.$typeName);
      const f = callerFramework(m.core, request.frameworkId, request.streamId);
      guard?.checkOwner(f.id, f.info.principal);
      return fn(m.core, f, request);
    });
    // A call that never ran (the actor stopped) leaves the queue too.
    return ran.finally(() => this.admission.left(queued));
  }

  subscribe(request: SubscribeRequest, sink: EventSink, limits: SubscribeLimits = {}): Promise<Subscription> {
    return this.call((m) => subscribe(m.core, request, sink, limits));
  }

  /** The scheduler's stream ended (client gone or cancelled). */
  streamClosed(frameworkId: string, streamId: string): Promise<void> {
    return this.call((m) => streamClosed(m.core, frameworkId, streamId));
  }

  /** The scheduler's stream is backed up (no offers meanwhile) or has caught up (see event-stream.ts). */
  schedulerBackedUp(frameworkId: string, streamId: string, backedUp: boolean): Promise<void> {
    return this.call((m) => schedulerBackedUp(m.core, frameworkId, streamId, backedUp));
  }

  /** The stream was cut because its scheduler read too slowly (see event-stream.ts). */
  streamStalled(frameworkId: string, streamId: string, why: string): Promise<void> {
    return this.call((m) => streamStalled(m.core, frameworkId, streamId, why));
  }

  accept(request: AcceptRequest, guard?: FrameworkGuard): Promise<void> {
    const userProblem = guard?.userProblem?.bind(guard);
    const hostPathProblem = guard?.hostPathProblem?.bind(guard);
    return this.forFramework(
      request,
      (core, f, r) => accept(core, f, r, userProblem && ((user) => userProblem(f.info.principal, user)), hostPathProblem && ((path) => hostPathProblem(f.info.principal, path))),
      guard,
      { tasks: launchedTasks(request), expires: true },
    );
  }

  decline(request: DeclineRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, decline, guard);
  }

  acceptInverseOffers(request: AcceptInverseOffersRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, acceptInverseOffers, guard);
  }

  declineInverseOffers(request: DeclineInverseOffersRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, declineInverseOffers, guard);
  }

  /** Operator: replaces the maintenance schedule (maintenance.ts). */
  updateMaintenanceSchedule(schedule: MaintenanceSchedule | undefined): Promise<void> {
    return this.call((m) => updateMaintenanceSchedule(m.core, schedule));
  }

  /** Operator: scheduled DRAINING machines go DOWN now (until brought up). */
  startMaintenance(machines: readonly MachineID[]): Promise<void> {
    return this.call((m) => startMaintenance(m.core, machines));
  }

  /** Operator: DOWN machines come UP and leave the schedule. */
  stopMaintenance(machines: readonly MachineID[]): Promise<void> {
    return this.call((m) => stopMaintenance(m.core, machines));
  }

  revive(request: ReviveRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, revive, guard);
  }

  suppress(request: SuppressRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, suppress, guard);
  }

  kill(request: KillRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, kill, guard);
  }

  shutdown(request: ShutdownRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, shutdownExecutor, guard);
  }

  acknowledge(request: AcknowledgeRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, acknowledge, guard);
  }

  acknowledgeBatch(request: AcknowledgeBatchRequest, guard?: FrameworkGuard): Promise<MessageInitShape<typeof AcknowledgeBatchResponseSchema>> {
    return this.forFramework(request, acknowledgeBatch, guard);
  }

  reconcile(request: ReconcileRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, reconcile, guard, { expires: true });
  }

  message(request: MessageRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(request, frameworkMessage, guard);
  }

  teardown(request: TeardownRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(
      request,
      (core, f) => {
        core.metrics.message("teardown");
        return removeFramework(core, f, "the framework tore itself down");
      },
      guard,
    );
  }

  /**
   * Operator TEARDOWN (Operator API and /teardown): removes a framework by id, after
   * `authorize` (given its principal) let the caller; NOT_FOUND for an unknown id.
   */
  teardownFramework(frameworkId: string, authorize: (principal: string) => void): Promise<void> {
    return this.call((m) => {
      if (!frameworkId) throw new DcosError(Code.INVALID_ARGUMENT, "framework_id is required");
      const f = m.core.frameworks.get(frameworkId);
      if (!f) {
        const done = m.core.completedFrameworks.values().some((info) => info.id?.value === frameworkId);
        throw new DcosError(Code.NOT_FOUND, done ? `Framework ${frameworkId} was already removed` : `No framework ${frameworkId}`);
      }
      authorize(f.info.principal);
      m.core.metrics.message("teardown");
      return removeFramework(m.core, f, "the operator tore it down");
    });
  }

  updateFramework(request: UpdateFrameworkRequest, guard?: FrameworkGuard): Promise<void> {
    return this.forFramework(
      request,
      (core, f, r) => {
        core.metrics.message("update_framework");
        return updateFramework(core, f, r);
      },
      guard,
    );
  }

  /** Operator: sets role weights (persisted, then given to the allocator). */
  updateWeights(infos: readonly WeightInfo[]): Promise<void> {
    return this.call((m) => updateWeights(m.core, infos));
  }

  /** Operator: sets role quota (checked against the cluster unless forced, persisted, enforced by the allocator). */
  updateQuota(infos: readonly QuotaInfo[], configs: readonly QuotaConfig[] = [], force = false): Promise<void> {
    return this.call((m) => updateQuota(m.core, infos, configs, force));
  }

  /** Operator: drains an agent (drain.ts). */
  drainAgent(agentId: string, maxGracePeriodSeconds: number | undefined, markGone: boolean): Promise<void> {
    return this.call((m) => drainAgent(m.core, agentId, maxGracePeriodSeconds, markGone));
  }

  /** Operator: no more offers of an agent; its tasks keep running. */
  deactivateAgent(agentId: string): Promise<void> {
    return this.call((m) => deactivateAgent(m.core, agentId));
  }

  /** Operator: ends an agent's deactivation or drain. */
  reactivateAgent(agentId: string): Promise<void> {
    return this.call((m) => reactivateAgent(m.core, agentId));
  }

  /** Operator: RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES, DESTROY_VOLUMES on an agent. */
  operateResources(request: OperatorOperationRequest): Promise<void> {
    return this.call((m) => operatorOperation(m.core, request));
  }

  /** Reads the master's state inside the actor, through its read-only view (HTTP, the Operator service, the web UI, tests). */
  inspect<T>(fn: (view: MasterView) => T): Promise<T> {
    return this.call((m) => fn(m.core));
  }
}
