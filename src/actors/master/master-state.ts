/**
 * The master's state and the small operations every part of the master shares: sending to
 * agents and schedulers, building master-generated status updates, moving tasks between
 * states, rescinding offers, persisting through the registrar. Everything here runs inside
 * the master actor; the feature files (subscription, accept, agent registration, health,
 * status updates, reconciliation) are functions over a MasterState.
 */
import { create, type Message } from "@bufbuild/protobuf";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { MasterInfoSchema, type FrameworkInfo, type MasterInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { AgentID, ExecutorID, FrameworkID, TaskID } from "../../gen/dcos/v1/common_pb.js";
import type { Event } from "../../gen/dcos/v1/scheduler_pb.js";
import { TaskState, TaskStatus_Reason, TaskStatus_Source, type Task, type TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import type { Pid } from "../../runtime/pid.js";
import { Random } from "../../runtime/random.js";
import type { Allocator } from "../allocator/allocator.js";
import type { EventBus } from "../../events/bus.js";
import type { ClusterEventKind } from "../../events/kinds.js";
import { AgentState, type AgentRecord, taskKey } from "./agent-record.js";
import type { FrameworkRecord } from "./framework-record.js";
import type { DropKind, MasterMetrics } from "./metrics.js";
import { OfferBook } from "./offer-book.js";
import type { ResolvedMasterOptions } from "./options.js";
import type { ReregistrationPacer } from "./reregistration-pacing.js";
import { COMPLETED_TASKS_KEPT, type Registrar, type RegistryOperation } from "./registry.js";
import { isTerminal, taskStateName } from "../task-states.js";
import { BoundedHistory } from "./history.js";
import { MasterCounts } from "./counts.js";
import { TrackedAgents, TrackedFrameworks } from "./tracked-records.js";
import { PendingReconciliation } from "./pending-reconciliation.js";
import { SharedResources } from "./shared-resources.js";

/** What the master actor lends its parts: identity, clock, sending, timers, deferral. */
export interface MasterHost {
  readonly self: Pid;
  /** The Raft term the master acts in (absent or 0: a master that leads alone). */
  readonly term?: number;
  readonly log: Logger;
  readonly clock: Clock;
  send(to: Pid, message: Message): void;
  delay(ms: number, fn: () => void): Timer;
  defer<T>(promise: Promise<T>, onResult: (value: T) => void, onError: (error: unknown) => void): void;
}

/** The event-shape union without $typeName boilerplate: `{ case: "offers", value: … }`. */
export type EventKind = Event["kind"];

export class MasterState {
  /** Tasks, agents and frameworks per state and the cluster's resources, kept as records change. */
  readonly counts = new MasterCounts();
  readonly frameworks: Map<string, FrameworkRecord> = new TrackedFrameworks(this.counts);
  readonly agents: Map<string, AgentRecord> = new TrackedAgents(this.counts);
  /** Agent ids by the agent actor's pid text (messages from agents carry only the pid). */
  readonly agentsByPid = new Map<string, string>();
  /** Framework ids being subscribed or torn down right now (registrar in flight). */
  readonly pendingFrameworks = new Set<string>();
  readonly offers = new OfferBook();
  /** Explicit reconciliation of tasks on agents that may still reregister (answered when they do). */
  readonly pendingReconciliation = new PendingReconciliation();
  /** Plain resources shared by the tasks adopted from reregistering agents (shared-resources.ts). */
  readonly sharedResources = new SharedResources();
  /**
   * Agents the registry held when this term began that may not have reregistered yet (as
   * Mesos's `slaves.recovered`); pruned lazily by reconciliation (anyTransitioning), so
   * asking "is any agent still transitioning?" costs O(1) amortized, not O(agents).
   */
  readonly recovering = new Set<string>();
  /**
   * The same agents, for the operator's log line once the last of them is back
   * (registry-recovery.ts noteReregistered); unlike `recovering`, only reregistration prunes it.
   */
  readonly awaitedBack = { agents: new Set<string>(), since: 0 };
  /** The new leader's announcements to the registry's agents, in waves (registry-recovery.ts). */
  reregistrationPacer: ReregistrationPacer | undefined;
  /** Bumped on every change operators can see (the /state cache key). */
  stateVersion = 0;
  /** Terminal tasks the master forgot, and removed frameworks, newest last (for /state). */
  readonly completedTasks = new BoundedHistory<Task>(COMPLETED_TASKS_KEPT);
  readonly completedFrameworks = new BoundedHistory<FrameworkInfo>(100);
  private counters = { framework: 0, agent: 0, offer: 0 };

  constructor(
    readonly options: ResolvedMasterOptions,
    readonly host: MasterHost,
    readonly allocator: Allocator,
    readonly registrar: Registrar,
    readonly metrics: MasterMetrics,
    private random: Random | undefined,
    readonly events: EventBus,
  ) {}

  get log(): Logger {
    return this.host.log;
  }

  now(): number {
    return this.host.clock.now();
  }

  masterInfo(): MasterInfo {
    const o = this.options;
    return create(MasterInfoSchema, { id: o.masterId, hostname: o.hostname, port: o.port, pid: this.host.self.toString(), version: o.version, httpPort: o.httpPort });
  }

  // ---- what operators see -----------------------------------------------------------

  /** Something operators can see changed (no event of its own). */
  changed(): void {
    this.stateVersion++;
  }

  /**
   * Publishes a cluster event (Operator streams, the NATS tap) and bumps the state version.
   * The event is only built when someone listens.
   */
  publish(kind: ClusterEventKind | (() => ClusterEventKind)): void {
    this.changed();
    if (this.events.listenerCount === 0) return;
    this.events.publish(this.host.self.toString(), this.now() / 1000, typeof kind === "function" ? kind() : kind);
  }

  // ---- ids ------------------------------------------------------------------------

  newFrameworkId(): string {
    let id: string;
    do id = `${this.options.masterId}-${String(++this.counters.framework).padStart(4, "0")}`;
    while (this.frameworks.has(id) || this.registrar.state().removedFrameworks.has(id) || this.registrar.state().frameworks.has(id));
    return id;
  }

  newAgentId(): string {
    let id: string;
    do id = `${this.options.masterId}-S${++this.counters.agent}`;
    while (this.agents.has(id) || this.registrar.state().agents.has(id) || this.registrar.state().unreachable.has(id));
    return id;
  }

  newOfferId(): string {
    return `${this.options.masterId}-O${++this.counters.offer}`;
  }

  newStreamId(): string {
    // A master without an injected source (no simulation) draws from one seeded from the OS.
    this.random ??= Random.fromOs();
    let s = "";
    for (let i = 0; i < 4; i++) s += this.random.int(0x1_0000_0000).toString(16).padStart(8, "0");
    return s;
  }

  // ---- guards and persistence ----------------------------------------------------

  /** Logs why something is dropped and counts it. */
  drop(kind: DropKind, why: string, fields: Record<string, unknown> = {}): void {
    this.metrics.drop(kind);
    this.log.warn(fields, why);
  }

  /** Applies a registry operation, then runs `then` inside the master. */
  persist(op: RegistryOperation, then: () => void, onError: (err: unknown) => void): void {
    let promise: Promise<void>;
    try {
      promise = this.registrar.apply(op);
    } catch (err) {
      promise = Promise.reject(err);
    }
    this.host.defer(promise, then, (err) => {
      this.log.error({ err, op: op.kind }, `Registrar failed to apply ${op.kind}`);
      onError(err);
    });
  }

  // ---- agents ---------------------------------------------------------------------

  /** The registered agent that sent a message, or undefined (and a logged, counted drop). */
  agentFrom(from: Pid, what: string): AgentRecord | undefined {
    const id = this.agentsByPid.get(from.toString());
    const agent = id === undefined ? undefined : this.agents.get(id);
    if (!agent || agent.state === AgentState.REMOVED || agent.state === AgentState.ADMITTING) {
      this.drop("invalid_agent_messages", `Ignoring ${what} from ${from.toString()} because the agent is not registered`, { from: from.toString() });
      return undefined;
    }
    return agent;
  }

  /** Agents where the framework has executors. */
  agentsHostingFramework(frameworkId: string): string[] {
    const out: string[] = [];
    for (const a of this.agents.values()) if (a.executors.has(frameworkId)) out.push(a.id);
    return out;
  }

  sendToAgent(agent: AgentRecord, message: Message): void {
    this.host.send(agent.pid, message);
  }

  // ---- schedulers -----------------------------------------------------------------

  /** An event for a scheduler (every field given: no create() walk; the master makes one per update it sends). */
  event(kind: EventKind): Event {
    return { $typeName: "dcos.v1.Event", kind };
  }

  emit(framework: FrameworkRecord, kind: EventKind): boolean {
    return framework.emit(this.event(kind));
  }

  // ---- tasks ----------------------------------------------------------------------

  /** A status the master generates (no uuid: nothing to acknowledge). */
  masterStatus(task: { taskId: string; agentId?: string; executorId?: string }, state: TaskState, reason: TaskStatus_Reason, message: string): TaskStatus {
    // Every field written out: create() with an init object walked the schema for every
    // status (a third of answering reconciliation after a failover), and a spread of a
    // created default was slower still. test/master/master-status.test.ts checks it stays
    // the message create() gives.
    const status: TaskStatus = {
      $typeName: "dcos.v1.TaskStatus",
      taskId: { $typeName: "dcos.v1.TaskID", value: task.taskId },
      state,
      message,
      source: TaskStatus_Source.MASTER,
      reason,
      timestamp: this.now() / 1000,
      uuid: EMPTY_BYTES,
      data: EMPTY_BYTES,
      sandboxDirectory: "",
    };
    if (task.agentId) status.agentId = { $typeName: "dcos.v1.AgentID", value: task.agentId };
    if (task.executorId) status.executorId = { $typeName: "dcos.v1.ExecutorID", value: task.executorId };
    return status;
  }

  /** Sends an UPDATE; counts it as dropped when the scheduler is not connected. */
  forwardStatus(framework: FrameworkRecord, status: TaskStatus): void {
    if (!this.emit(framework, { case: "update", value: { $typeName: "dcos.v1.Event.Update", status } })) {
      this.log.info(
        { framework: framework.id, task: status.taskId?.value },
        `Not forwarding ${taskStateName(status.state)} for task ${status.taskId?.value} because ${framework.name} is not connected`,
      );
    }
  }

  addTask(framework: FrameworkRecord, agent: AgentRecord, task: Task): void {
    framework.tasks.set(task.taskId!.value, task);
    agent.tasks.set(taskKey(framework.id, task.taskId!.value), task);
    this.publish({ case: "taskAdded", value: { $typeName: "dcos.v1.ClusterEvent.TaskAdded", task } });
  }

  /**
   * Moves a task to a new latest state (after a status was added to it, or to the same
   * state). Entering a terminal state frees its resources in the allocator (once) and
   * counts it.
   */
  setTaskState(task: Task, state: TaskState, recover = true): void {
    const before = task.state;
    // Callers add the status first: the agent's tasks changed even when the state did not.
    this.agents.get(task.agentId?.value ?? "")?.tasksChanged();
    if (before === state) return;
    task.state = state;
    this.agents.get(task.agentId?.value ?? "")?.taskStateChanged(taskKey(task.frameworkId?.value ?? "", task.taskId?.value ?? ""), task, before);
    this.log.debug({ task: task.taskId?.value, from: taskStateName(before), to: taskStateName(state) }, "Task state changed");
    if (isTerminal(state) && !isTerminal(before)) {
      this.metrics.taskEnded(state);
      if (recover) this.recoverTaskResources(task);
    }
    this.publish(() => ({
      case: "taskUpdated",
      value: { $typeName: "dcos.v1.ClusterEvent.TaskUpdated", frameworkId: task.frameworkId, status: task.statuses[task.statuses.length - 1], state },
    }));
  }

  private recoverTaskResources(task: Task): void {
    const agentId = task.agentId?.value ?? "";
    const frameworkId = task.frameworkId?.value ?? "";
    const agent = this.agents.get(agentId);
    // An unreachable or removed agent's resources already left the allocator with it.
    if (!agent || agent.state !== AgentState.ACTIVE || task.resources.length === 0) return;
    this.allocator.recoverResources(frameworkId, agentId, task.resources, 0);
  }

  /** Forgets a task (acknowledged terminal, or its framework or agent is gone). */
  removeTask(task: Task): void {
    const frameworkId = task.frameworkId?.value ?? "";
    const taskId = task.taskId?.value ?? "";
    this.frameworks.get(frameworkId)?.tasks.delete(taskId);
    this.agents.get(task.agentId?.value ?? "")?.tasks.delete(taskKey(frameworkId, taskId));
    if (isTerminal(task.state)) this.complete(task);
    this.changed();
  }

  /** Into the completed-task history, here and in the registry (so it survives a failover; a failed write only loses history). */
  private complete(task: Task): void {
    this.completedTasks.add(task);
    this.persist({ kind: "completeTask", task }, () => undefined, () => undefined);
  }

  // ---- offers ---------------------------------------------------------------------

  /** Takes an offer back: its resources return to the allocator, the scheduler hears RESCIND. */
  rescindOffer(offerId: string, why: string, refuseSeconds = 0, logged = true): boolean {
    const offer = this.offers.remove(offerId);
    if (!offer) return false;
    this.metrics.offersRescinded.inc();
    const frameworkId = offer.frameworkId!.value;
    if (logged) this.log.info({ offer: offerId, framework: frameworkId }, `Rescinding offer ${offerId}: ${why}`);
    else this.log.debug({ offer: offerId, framework: frameworkId }, `Rescinding offer ${offerId}: ${why}`);
    this.recoverOffer(offer.frameworkId!.value, offer.agentId!.value, offer.resources, refuseSeconds);
    this.offersHeldChanged(frameworkId);
    this.publish({ case: "offerRescinded", value: { $typeName: "dcos.v1.ClusterEvent.OfferRescinded", offer, reason: why } });
    const framework = this.frameworks.get(frameworkId);
    if (framework) this.emit(framework, { case: "rescind", value: { $typeName: "dcos.v1.Event.Rescind", offerId: offer.id } });
    return true;
  }

  /**
   * Rescinds these offers with one log line for all of them (each at debug): a framework
   * that disconnects or an agent that leaves takes hundreds of offers with it at 50,000
   * agents, and a line each was a tenth of the leader's time in those bursts.
   */
  rescindOffers(offerIds: Iterable<string>, why: string, about: { framework?: string; agent?: string } = {}): void {
    let n = 0;
    for (const offerId of [...offerIds]) if (this.rescindOffer(offerId, why, 0, false)) n++;
    if (n > 0) this.log.info({ offers: n, ...about }, `Rescinded ${n} offer(s): ${why}`);
  }

  /**
   * After offers of the framework were made or left the book: with maxOffersPerFramework set,
   * a framework that holds that many gets no more (inactive in the allocator, as a backed-up
   * one) until it holds half as many. Without it, a scheduler subscribing to 50,000 agents
   * was offered agent after agent (and declined them) before it had read its first offers.
   */
  offersHeldChanged(frameworkId: string): void {
    const max = this.options.maxOffersPerFramework;
    if (max <= 0) return;
    const f = this.frameworks.get(frameworkId);
    if (!f?.connected) return;
    const held = this.offers.countOf(frameworkId);
    if (!f.offersPaused && held >= max) {
      f.offersPaused = true;
      this.metrics.frameworkOffersPaused.inc();
      if (!f.backedUp) this.allocator.deactivateFramework(frameworkId);
    } else if (f.offersPaused && held <= max / 2) {
      f.offersPaused = false;
      if (!f.backedUp) this.allocator.activateFramework(frameworkId);
    }
  }

  /** Returns offered resources to the allocator unless the agent already left it. */
  recoverOffer(frameworkId: string, agentId: string, resources: readonly Resource[], refuseSeconds: number): void {
    if (resources.length === 0) return;
    const agent = this.agents.get(agentId);
    if (!agent || agent.state !== AgentState.ACTIVE) return;
    this.allocator.recoverResources(frameworkId, agentId, resources, refuseSeconds);
  }
}

/** The empty bytes of a master's status (never written to: a status's uuid and data are replaced, not filled). */
const EMPTY_BYTES = new Uint8Array(0);

/** Id messages (one string field each: written whole, no create() walk). */
export const ids = {
  framework: (value: string): FrameworkID => ({ $typeName: "dcos.v1.FrameworkID", value }),
  agent: (value: string): AgentID => ({ $typeName: "dcos.v1.AgentID", value }),
  task: (value: string): TaskID => ({ $typeName: "dcos.v1.TaskID", value }),
  executor: (value: string): ExecutorID => ({ $typeName: "dcos.v1.ExecutorID", value }),
};
