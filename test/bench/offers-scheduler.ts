/**
 * The framework of the offers benchmark: it has an endless backlog of small command tasks,
 * accepts offers by launching as many as fit (up to an in-flight cap), acknowledges every
 * update that asks for it, and records, per task, when the offer it went on reached the
 * scheduler, when the accept was sent, and when its TASK_RUNNING arrived. Its calls go through `SchedulerCalls`: the MasterFacade directly, or a
 * gRPC client of the real SchedulerService.
 */
import { create } from "@bufbuild/protobuf";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import {
  AcceptRequestSchema,
  AcknowledgeBatchRequestSchema,
  AcknowledgementSchema,
  AcknowledgeRequestSchema,
  DeclineRequestSchema,
  type AcceptRequest,
  type AcknowledgeBatchRequest,
  type Acknowledgement,
  type AcknowledgeRequest,
  type DeclineRequest,
  type Event,
} from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskInfoSchema, TaskState, type TaskInfo, type TaskStatus } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/index.js";

export interface SchedulerCalls {
  accept(request: AcceptRequest): Promise<unknown>;
  decline(request: DeclineRequest): Promise<unknown>;
  acknowledge(request: AcknowledgeRequest): Promise<unknown>;
  acknowledgeBatch(request: AcknowledgeBatchRequest): Promise<unknown>;
}

export interface TaskShape {
  cpus: number;
  mem: number;
}

function scalar(offer: Offer, name: string): number {
  let v = 0;
  for (const r of offer.resources) if (r.name === name) v += r.scalar?.value ?? 0;
  return v;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across threads. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** What a scheduler reports at the end of a run. */
export interface SchedulerResult {
  /** Per task that reached TASK_RUNNING: [when (ms since the epoch), ms since its offer arrived, ms since its accept was sent]. */
  running: [number, number, number][];
  launched: number;
  finished: number;
  failures: number;
  callErrors: number;
}

export interface SchedulerSettings extends TaskShape {
  /** Tasks launched and not yet RUNNING beyond which offers wait (held, not declined); each offer is used whole. */
  maxInFlight: number;
  /** Acknowledge the updates that arrived in one event-loop turn with one AcknowledgeBatch call (else one Acknowledge each). */
  batchAcks: boolean;
  /** The SchedulerDriver acknowledges (implicitly, after the update callback); the scheduler does not. */
  driverAcks?: boolean;
}

interface Launch {
  offeredAt: number;
  acceptedAt: number;
}

/**
 * Holds offers it cannot use yet (the in-flight cap), as frameworks that pace themselves
 * do, and uses them as tasks start; nothing is declined unless no task fits at all.
 */
export class BenchScheduler {
  frameworkId = "";
  streamId = "";
  private readonly inFlight = new Map<string, Launch>();
  private held: { offer: Offer; at: number }[] = [];
  readonly running: [number, number, number][] = [];
  launched = 0;
  finished = 0;
  failures = 0;
  callErrors = 0;
  private next = 0;
  private readonly resources;
  private acks: Acknowledgement[] = [];

  constructor(
    private readonly calls: SchedulerCalls,
    private readonly settings: SchedulerSettings,
  ) {
    this.resources = parseResources(`cpus:${settings.cpus};mem:${settings.mem}`).toProto();
  }

  result(): SchedulerResult {
    return { running: this.running, launched: this.launched, finished: this.finished, failures: this.failures, callErrors: this.callErrors };
  }

  onEvent(event: Event): void {
    const now = wallNow();
    switch (event.kind.case) {
      case "subscribed":
        this.frameworkId = event.kind.value.frameworkId!.value;
        this.streamId = event.kind.value.streamId;
        return;
      case "offers":
        this.offered(event.kind.value.offers, now);
        return;
      case "update":
        this.update(event.kind.value.status!, now);
        return;
      default:
        return;
    }
  }

  offered(offers: readonly Offer[], now = wallNow()): void {
    for (const offer of offers) this.held.push({ offer, at: now });
    this.pump(now);
  }

  update(status: TaskStatus, now = wallNow()): void {
    const taskId = status.taskId!.value;
    if (status.state === TaskState.RUNNING) {
      const launch = this.inFlight.get(taskId);
      if (launch) {
        this.inFlight.delete(taskId);
        this.running.push([now, now - launch.offeredAt, now - launch.acceptedAt]);
      }
    } else if (status.state === TaskState.FINISHED) this.finished++;
    else if (status.state !== TaskState.STARTING) this.failures++;
    if (status.uuid.length > 0 && !this.settings.driverAcks) this.acknowledge(status);
    if (status.state === TaskState.RUNNING && this.held.length > 0) this.pump(now);
  }

  private acknowledge(status: TaskStatus): void {
    const frameworkId = { value: this.frameworkId };
    if (!this.settings.batchAcks) {
      const ack = create(AcknowledgeRequestSchema, { frameworkId, streamId: this.streamId, agentId: status.agentId, taskId: status.taskId, uuid: status.uuid });
      this.calls.acknowledge(ack).catch(this.failed);
      return;
    }
    if (this.acks.length === 0) {
      setImmediate(() => {
        const acknowledgements = this.acks;
        this.acks = [];
        this.calls.acknowledgeBatch(create(AcknowledgeBatchRequestSchema, { frameworkId, streamId: this.streamId, acknowledgements })).catch(this.failed);
      });
    }
    this.acks.push(create(AcknowledgementSchema, { agentId: status.agentId, taskId: status.taskId, uuid: status.uuid }));
  }

  private readonly failed = (): void => {
    this.callErrors++;
  };

  /** Launches on held offers while the in-flight cap allows. */
  private pump(now: number): void {
    let used = 0;
    while (used < this.held.length && this.inFlight.size < this.settings.maxInFlight) {
      const { offer, at } = this.held[used++]!;
      this.use(offer, at, now);
    }
    this.held = used === 0 ? this.held : this.held.slice(used);
  }

  private use(offer: Offer, offeredAt: number, now: number): void {
    const fits = Math.floor(Math.min(scalar(offer, "cpus") / this.settings.cpus, scalar(offer, "mem") / this.settings.mem) + 1e-9);
    const frameworkId = { value: this.frameworkId };
    if (fits <= 0) {
      const decline = create(DeclineRequestSchema, { frameworkId, streamId: this.streamId, offerIds: [offer.id!], filters: { refuseSeconds: 1 } });
      this.calls.decline(decline).catch(this.failed);
      return;
    }
    // The whole offer: trimming it to the cap would make one accept per task as tasks start.
    const n = fits;
    const tasks: TaskInfo[] = [];
    for (let i = 0; i < n; i++) {
      const id = `t${++this.next}`;
      this.inFlight.set(id, { offeredAt, acceptedAt: now });
      tasks.push(create(TaskInfoSchema, { name: id, taskId: { value: id }, resources: this.resources, command: { value: "true" } }));
    }
    this.launched += n;
    const accept = create(AcceptRequestSchema, {
      frameworkId,
      streamId: this.streamId,
      offerIds: [offer.id!],
      operations: [{ kind: { case: "launch", value: { taskInfos: tasks } } }],
      filters: { refuseSeconds: 0 },
    });
    this.calls.accept(accept).catch(this.failed);
  }
}
