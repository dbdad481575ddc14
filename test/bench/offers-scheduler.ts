/**
 * The framework of the offers benchmark: it has an endless backlog of small command tasks,
 * accepts every offer by launching as many as fit, acknowledges every update that asks for
 * it, and records, per task, when the offer it went on reached the scheduler and when its
 * TASK_RUNNING did. Its calls go through `SchedulerCalls`: the MasterFacade directly, or a
 * gRPC client of the real SchedulerService.
 */
import { create } from "@bufbuild/protobuf";
import type { Offer } from "../../src/gen/dcos/v1/offers_pb.js";
import {
  AcceptRequestSchema,
  AcknowledgeRequestSchema,
  DeclineRequestSchema,
  type AcceptRequest,
  type AcknowledgeRequest,
  type DeclineRequest,
  type Event,
} from "../../src/gen/dcos/v1/scheduler_pb.js";
import { TaskInfoSchema, TaskState, type TaskInfo } from "../../src/gen/dcos/v1/tasks_pb.js";
import { parseResources } from "../../src/resources/index.js";

export interface SchedulerCalls {
  accept(request: AcceptRequest): Promise<unknown>;
  decline(request: DeclineRequest): Promise<unknown>;
  acknowledge(request: AcknowledgeRequest): Promise<unknown>;
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
  running: [number, number][];
  launched: number;
  finished: number;
  failures: number;
  callErrors: number;
}

export class BenchScheduler {
  frameworkId = "";
  streamId = "";
  /** Offer arrival time (ms, performance.now) of each launched task, until it runs. */
  private readonly offeredAt = new Map<string, number>();
  /** [running time (ms since the epoch, sub-ms), latency ms] of every task that reached TASK_RUNNING. */
  readonly running: [number, number][] = [];
  launched = 0;
  finished = 0;
  failures = 0;
  callErrors = 0;
  private next = 0;
  private readonly resources;

  constructor(
    private readonly calls: SchedulerCalls,
    private readonly task: TaskShape,
  ) {
    this.resources = parseResources(`cpus:${task.cpus};mem:${task.mem}`).toProto();
  }

  onEvent(event: Event): void {
    const now = wallNow();
    switch (event.kind.case) {
      case "subscribed":
        this.frameworkId = event.kind.value.frameworkId!.value;
        this.streamId = event.kind.value.streamId;
        return;
      case "offers":
        for (const offer of event.kind.value.offers) this.use(offer, now);
        return;
      case "update": {
        const status = event.kind.value.status!;
        const taskId = status.taskId!.value;
        if (status.state === TaskState.RUNNING) {
          const at = this.offeredAt.get(taskId);
          if (at !== undefined) {
            this.offeredAt.delete(taskId);
            this.running.push([now, now - at]);
          }
        } else if (status.state === TaskState.FINISHED) this.finished++;
        else if (status.state !== TaskState.STARTING) this.failures++;
        if (status.uuid.length > 0) {
          const ack = create(AcknowledgeRequestSchema, {
            frameworkId: { value: this.frameworkId },
            streamId: this.streamId,
            agentId: status.agentId,
            taskId: status.taskId,
            uuid: status.uuid,
          });
          this.calls.acknowledge(ack).catch(this.failed);
        }
        return;
      }
      default:
        return;
    }
  }

  result(): SchedulerResult {
    return { running: this.running, launched: this.launched, finished: this.finished, failures: this.failures, callErrors: this.callErrors };
  }

  private readonly failed = (): void => {
    this.callErrors++;
  };

  private use(offer: Offer, now: number): void {
    const fit = Math.floor(Math.min(scalar(offer, "cpus") / this.task.cpus, scalar(offer, "mem") / this.task.mem) + 1e-9);
    const frameworkId = { value: this.frameworkId };
    if (fit <= 0) {
      const decline = create(DeclineRequestSchema, { frameworkId, streamId: this.streamId, offerIds: [offer.id!], filters: { refuseSeconds: 1 } });
      this.calls.decline(decline).catch(this.failed);
      return;
    }
    const tasks: TaskInfo[] = [];
    for (let i = 0; i < fit; i++) {
      const id = `t${++this.next}`;
      this.offeredAt.set(id, now);
      tasks.push(create(TaskInfoSchema, { name: id, taskId: { value: id }, resources: this.resources, command: { value: "true" } }));
    }
    this.launched += fit;
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
