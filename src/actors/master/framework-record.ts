/**
 * The master's record of one framework: its info, its scheduler's event stream, its tasks,
 * and where it is in its life. A framework whose stream breaks is DISCONNECTED for its
 * failover_timeout, then removed with its tasks killed; a re-subscription in between
 * reconnects it (scheduler failover).
 */
import type { FrameworkInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import type { FrameworkID } from "../../gen/dcos/v1/common_pb.js";
import type { Event } from "../../gen/dcos/v1/scheduler_pb.js";
import type { Task } from "../../gen/dcos/v1/tasks_pb.js";
import type { Timer } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import { transitionChecker } from "../../runtime/transitions.js";

/** Where the master sends a scheduler's events (the gRPC Subscribe stream, or a test double). */
export interface EventSink {
  send(event: Event): void;
  /** Ends the stream (after an ERROR event, a teardown, or a newer subscription). */
  close(): void;
}

export enum FrameworkState {
  CONNECTED = "CONNECTED",
  DISCONNECTED = "DISCONNECTED",
  REMOVED = "REMOVED",
}

const checkTransition = transitionChecker<FrameworkState>({
  [FrameworkState.CONNECTED]: [FrameworkState.CONNECTED, FrameworkState.DISCONNECTED, FrameworkState.REMOVED],
  [FrameworkState.DISCONNECTED]: [FrameworkState.CONNECTED, FrameworkState.REMOVED],
  [FrameworkState.REMOVED]: [],
}, "framework");

/** What a framework record reports its state changes to while it is in the master's frameworks map (MasterCounts, counts.ts). */
export interface FrameworkRecordWatcher {
  frameworkState(from: FrameworkState, to: FrameworkState): void;
}

export class FrameworkRecord {
  private state_: FrameworkState;
  /** The master's counts while the record is in its frameworks map (set by TrackedFrameworks). */
  counts: FrameworkRecordWatcher | undefined;
  streamId = "";
  sink: EventSink | undefined;
  /** Tasks by task id, terminal ones included until the scheduler acknowledges them. */
  readonly tasks = new Map<string, Task>();
  readonly suppressedRoles = new Set<string>();
  failoverTimer: Timer | undefined;
  heartbeatTimer: Timer | undefined;
  /** When the framework's scheduler last subscribed (ms on the master's clock; 0 if not since start). */
  registeredAt = 0;
  /** Its stream is backed up: no offers until the scheduler has read what waits (schedulerBackedUp). */
  backedUp = false;
  /** It holds maxOffersPerFramework outstanding offers: no more until it has answered half (MasterState.offersHeldChanged). */
  offersPaused = false;
  /**
   * Its id as a message, shared by the tasks the master adopts from reregistering agents
   * (never changed in place: a task's ids are replaced, not edited). One object per framework
   * instead of one per task: a failover's new leader keeps 250,000 adopted tasks.
   */
  readonly idMessage: FrameworkID;

  constructor(
    readonly id: string,
    public info: FrameworkInfo,
    state: FrameworkState,
  ) {
    this.state_ = state;
    this.idMessage = { $typeName: "dcos.v1.FrameworkID", value: id };
  }

  get state(): FrameworkState {
    return this.state_;
  }

  get name(): string {
    return `framework ${this.id} (${this.info.name || "unnamed"})`;
  }

  get connected(): boolean {
    return this.state === FrameworkState.CONNECTED;
  }

  get partitionAware(): boolean {
    return this.info.capabilities.includes(FrameworkInfo_Capability.PARTITION_AWARE);
  }

  transition(to: FrameworkState, log: Logger, why: string): void {
    checkTransition(this.state, to, this.name);
    log.info({ framework: this.id, from: this.state, to }, `Framework ${this.id} ${this.state} -> ${to}: ${why}`);
    const from = this.state_;
    this.state_ = to;
    this.counts?.frameworkState(from, to);
  }

  /** Sends one event if a stream is open; false when it was not sent. */
  emit(event: Event): boolean {
    if (!this.sink || this.state !== FrameworkState.CONNECTED) return false;
    this.sink.send(event);
    return true;
  }

  stopTimers(): void {
    this.failoverTimer?.cancel();
    this.failoverTimer = undefined;
    this.heartbeatTimer?.cancel();
    this.heartbeatTimer = undefined;
  }

  /** Detaches and closes the current stream, if any. */
  closeStream(): void {
    const sink = this.sink;
    this.sink = undefined;
    this.streamId = "";
    sink?.close();
  }
}
