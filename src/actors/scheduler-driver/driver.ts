import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FrameworkInfoSchema } from "../../gen/dcos/v1/cluster_pb.js";
import { Offer_OperationSchema, type FiltersSchema } from "../../gen/dcos/v1/offers_pb.js";
import type { Event, Event_Subscribed } from "../../gen/dcos/v1/scheduler_pb.js";
import type { KillPolicySchema, TaskInfo, TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { Facade } from "../../runtime/facade.js";
import { Random } from "../../runtime/random.js";
import { ActorSystem } from "../../runtime/system.js";
import { SchedulerDriverActor } from "./driver-actor.js";
import { EventQueue } from "./event-queue.js";
import { idField, type IdLike } from "./ids.js";
import type { SchedulerDriverOptions } from "./options.js";
import type { DriverState } from "./state.js";

export type OperationInit = MessageInitShape<typeof Offer_OperationSchema>;
export type FiltersInit = MessageInitShape<typeof FiltersSchema>;
export type KillPolicyInit = MessageInitShape<typeof KillPolicySchema>;
export type FrameworkInfoInit = MessageInitShape<typeof FrameworkInfoSchema>;

/** A task to reconcile: its id and, when known, its agent. */
export interface ReconcileTask {
  taskId: IdLike;
  agentId?: IdLike;
}

function spawnActor(options: SchedulerDriverOptions): { actor: SchedulerDriverActor; owned: ActorSystem | undefined } {
  const owned = options.system ? undefined : new ActorSystem({ clock: options.clock, logger: options.logger });
  const system = options.system ?? owned!;
  const random = options.random ?? new Random((Date.now() ^ (process.pid << 16)) >>> 0);
  const actor = new SchedulerDriverActor(system.uniqueName("scheduler-driver"), options, random, system.metrics);
  return { actor: system.spawn(actor), owned };
}

/**
 * A framework's connection to the cluster: a client of the gRPC SchedulerService.
 *
 * ```ts
 * const driver = new SchedulerDriver({ masters: "10.0.0.1:5050", framework: { name: "hello", roles: ["*"] },
 *   callbacks: { offers: (offers) => … , update: (status) => … } });
 * await driver.start();                        // resolves at SUBSCRIBED
 * for await (const event of driver.events()) …  // or an async iterator
 * ```
 *
 * It reconnects on its own (capped exponential backoff, leader hints from standbys, the
 * next master of the list), resubscribes with the framework id it was given, gives up a
 * master that misses `maxMissedHeartbeats` heartbeats, and reconciles after every
 * subscription. Every call returns a promise that rejects with a DcosError carrying the
 * master's status (UNAVAILABLE while not subscribed).
 */
export class SchedulerDriver extends Facade<SchedulerDriverActor> {
  private readonly owned: ActorSystem | undefined;

  constructor(options: SchedulerDriverOptions) {
    const { actor, owned } = spawnActor(options);
    super(actor);
    this.owned = owned;
  }

  /** The state now (read-only view of the actor's; for display and tests). */
  get state(): DriverState {
    return this.actor.driverState;
  }

  /** The framework id once subscribed (or the one to resume). */
  get frameworkId(): string | undefined {
    return this.actor.frameworkId;
  }

  /** The master talked to, or tried next. */
  get master(): string {
    return this.actor.master;
  }

  /** Connects and subscribes; resolves with the first SUBSCRIBED, rejects if the driver stops first. */
  start(): Promise<Event_Subscribed> {
    return this.call((a) => a.start());
  }

  /** Stops without tearing the framework down (a new scheduler may fail over to it). */
  async stop(): Promise<void> {
    await this.call((a) => a.stop()).catch(() => undefined);
    await this.owned?.stop();
  }

  /**
   * Events from now on, in stream order, until the driver stops (the loop ends) or fails
   * (the loop throws the reason). Several iterators may run at once; each sees every event.
   */
  events(): AsyncIterableIterator<Event> {
    const queue: EventQueue<Event> = new EventQueue((q) => {
      this.call((a) => a.unsubscribeQueue(q)).catch(() => undefined);
    });
    this.call((a) => a.subscribeQueue(queue)).catch(() => queue.close());
    return queue;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<Event> {
    return this.events();
  }

  // ---- calls -------------------------------------------------------------------------

  /** ACCEPT: applies operations to offers (all from one agent); what is left is declined with filters. */
  accept(offerIds: readonly IdLike[], operations: readonly OperationInit[], filters?: FiltersInit): Promise<void> {
    const ops = operations.map((op) => create(Offer_OperationSchema, op));
    return this.call((a) => a.accept({ offerIds: offerIds.map(idField), operations: ops, filters }));
  }

  /** ACCEPT with one LAUNCH of tasks. */
  launch(offerIds: readonly IdLike[], tasks: readonly TaskInfo[], filters?: FiltersInit): Promise<void> {
    return this.accept(offerIds, [{ kind: { case: "launch", value: { taskInfos: [...tasks] } } }], filters);
  }

  /** DECLINE: returns offers; with filters.refuseSeconds they stay away that long (default 5 s). */
  decline(offerIds: readonly IdLike[], filters?: FiltersInit): Promise<void> {
    return this.call((a) => a.call("decline", { offerIds: offerIds.map(idField), filters }));
  }

  /**
   * ACCEPT_INVERSE_OFFERS: agrees to the maintenance of these inverse offers' agents. While
   * the framework still uses such an agent it is asked again after filters.refuseSeconds (default 5 s).
   */
  acceptInverseOffers(inverseOfferIds: readonly IdLike[], filters?: FiltersInit): Promise<void> {
    return this.call((a) => a.call("acceptInverseOffers", { inverseOfferIds: inverseOfferIds.map(idField), filters }));
  }

  /** DECLINE_INVERSE_OFFERS: does not agree (the master records it; the window comes anyway). Asked again as for accept. */
  declineInverseOffers(inverseOfferIds: readonly IdLike[], filters?: FiltersInit): Promise<void> {
    return this.call((a) => a.call("declineInverseOffers", { inverseOfferIds: inverseOfferIds.map(idField), filters }));
  }

  /** REVIVE: clears filters and resumes offers for roles (all when empty). */
  revive(roles: readonly string[] = []): Promise<void> {
    return this.call((a) => a.setSuppressed([...roles], false));
  }

  /** SUPPRESS: no offers for roles (all when empty) until revived, also after resubscribing to a new master. */
  suppress(roles: readonly string[] = []): Promise<void> {
    return this.call((a) => a.setSuppressed([...roles], true));
  }

  /** KILL: the outcome arrives as an UPDATE. */
  kill(taskId: IdLike, agentId?: IdLike, killPolicy?: KillPolicyInit): Promise<void> {
    return this.call((a) =>
      a.call("kill", { taskId: idField(taskId), agentId: agentId === undefined ? undefined : idField(agentId), killPolicy }),
    );
  }

  /** SHUTDOWN: stops one executor of the framework. */
  shutdown(executorId: IdLike, agentId: IdLike): Promise<void> {
    return this.call((a) => a.call("shutdown", { executorId: idField(executorId), agentId: idField(agentId) }));
  }

  /** ACKNOWLEDGE a status update (needed only with implicitAcknowledgements: false). */
  acknowledge(status: TaskStatus): Promise<void> {
    return this.call((a) => a.acknowledge(status));
  }

  /** RECONCILE: the given tasks explicitly, or every task the master knows when empty. */
  reconcile(tasks: readonly ReconcileTask[] = []): Promise<void> {
    const list = tasks.map((t) => ({ taskId: idField(t.taskId), agentId: t.agentId === undefined ? undefined : idField(t.agentId) }));
    return this.call((a) => a.call("reconcile", { tasks: list }));
  }

  /** MESSAGE: opaque data to one of the framework's executors. */
  message(agentId: IdLike, executorId: IdLike, data: Uint8Array): Promise<void> {
    return this.call((a) => a.call("message", { agentId: idField(agentId), executorId: idField(executorId), data }));
  }

  /** TEARDOWN: the master kills the framework's tasks and forgets it; then the driver stops. */
  async teardown(): Promise<void> {
    await this.call((a) => a.teardown());
    await this.stop();
  }

  /** UPDATE_FRAMEWORK: new name, roles, capabilities, failover timeout; used for later resubscriptions too. */
  updateFramework(info: FrameworkInfoInit, suppressedRoles: readonly string[] = []): Promise<void> {
    return this.call((a) => a.updateFramework(create(FrameworkInfoSchema, info), [...suppressedRoles]));
  }
}
