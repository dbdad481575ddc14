import { create } from "@bufbuild/protobuf";
import { AcknowledgementSchema, type Acknowledgement } from "../../gen/dcos/v1/scheduler_pb.js";
import type { TaskStatus } from "../../gen/dcos/v1/tasks_pb.js";
import { asDcosError, Code, DcosError } from "../../runtime/error.js";

/** How acknowledgements leave: one by one (ACKNOWLEDGE) or several in one call (AcknowledgeBatch). */
export interface AckSender {
  one(ack: Acknowledgement): Promise<void>;
  /** Resolves with the entries the master matched to no pending update (by index, with why). */
  batch(acks: Acknowledgement[]): Promise<readonly { index: number; reason: string }[]>;
  /** Runs fn inside the driver's actor later (false: the actor is gone). */
  reenter(fn: () => void): boolean;
  /** Counts a call made: how many acknowledgements it carried. */
  sent(count: number): void;
}

export interface AckBatcherOptions {
  /** Most acknowledgements in one AcknowledgeBatch call. */
  maxBatch: number;
  /** Calls in flight at once; more acknowledgements wait and go together when one returns. */
  maxInFlight: number;
}

interface Pending {
  ack: Acknowledgement;
  resolve: () => void;
  reject: (error: DcosError) => void;
}

/** The master names a bad entry of a batch so: `acknowledgements[3].uuid is required`. */
const BAD_ENTRY = /^acknowledgements\[(\d+)\]\.(.*)$/s;

/**
 * The ids of a status update to acknowledge, or the INVALID_ARGUMENT the master would
 * answer (checked here so one bad acknowledgement cannot fail a batch of good ones).
 */
export function acknowledgementOf(status: TaskStatus): Acknowledgement {
  const task = status.taskId?.value;
  if (!task) throw new DcosError(Code.INVALID_ARGUMENT, "Cannot acknowledge a status update without a task_id");
  if (status.uuid.length === 0) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot acknowledge the update of task '${task}': it has no uuid, so it needs no acknowledgement`);
  }
  if (!status.agentId?.value) throw new DcosError(Code.INVALID_ARGUMENT, `Cannot acknowledge the update of task '${task}': it has no agent_id`);
  return create(AcknowledgementSchema, { agentId: status.agentId, taskId: status.taskId, uuid: status.uuid });
}

/**
 * Coalesces acknowledgements: everything queued in one event-loop turn (implicit and
 * explicit alike) leaves in one AcknowledgeBatch call, a lone one as a plain ACKNOWLEDGE.
 * While `maxInFlight` calls are out, new ones wait and go together when a call returns,
 * so batches grow with the master's load instead of the call count. Each caller's promise
 * settles with its own outcome: an entry the master refuses by index rejects alone and
 * the rest go again; an entry it matched to no pending update rejects with NOT_FOUND (as a
 * single ACKNOWLEDGE would); a master without AcknowledgeBatch (UNIMPLEMENTED) gets them one by
 * one from then on. Lives inside the driver's actor; every method runs there.
 */
export class AckBatcher {
  private pending: Pending[] = [];
  private flushScheduled = false;
  private inFlight = 0;
  private batchUnsupported = false;
  private closed: DcosError | undefined;

  constructor(
    private readonly sender: AckSender,
    private readonly options: AckBatcherOptions,
  ) {}

  get queued(): number {
    return this.pending.length;
  }

  add(ack: Acknowledgement): Promise<void> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ack, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Rejects what waits and everything added later (the driver stopped). */
  close(error: DcosError): void {
    this.closed = error;
    for (const p of this.pending.splice(0)) p.reject(error);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= this.options.maxInFlight) return;
    this.flushScheduled = true;
    // After this turn's I/O and mailbox items: what they acknowledge joins the batch.
    setImmediate(() => {
      if (!this.sender.reenter(() => this.flush())) {
        this.flushScheduled = false;
        this.close(new DcosError(Code.UNAVAILABLE, "The scheduler driver's actor is gone"));
      }
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    while (this.pending.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.pending.splice(0, this.options.maxBatch);
      if (this.batchUnsupported || batch.length === 1) for (const p of batch) this.sendOne(p);
      else this.sendBatch(batch);
    }
  }

  private sendOne(p: Pending): void {
    this.started(1);
    this.sender.one(p.ack).then(
      () => this.returned(() => p.resolve()),
      (err: unknown) => this.returned(() => p.reject(asDcosError(err, Code.UNKNOWN))),
    );
  }

  private sendBatch(batch: Pending[]): void {
    this.started(batch.length);
    this.sender.batch(batch.map((p) => p.ack)).then(
      (ignored) =>
        this.returned(() => {
          const why = new Map(ignored.map((i) => [i.index, i.reason]));
          batch.forEach((p, i) => {
            const reason = why.get(i);
            if (reason === undefined) p.resolve();
            else p.reject(new DcosError(Code.NOT_FOUND, reason));
          });
        }),
      (err: unknown) => this.returned(() => this.batchFailed(batch, asDcosError(err, Code.UNKNOWN))),
    );
  }

  private started(count: number): void {
    this.inFlight++;
    this.sender.sent(count);
  }

  /** A call came back: settle its callers inside the actor, then send what waited. */
  private returned(settle: () => void): void {
    const inside = this.sender.reenter(() => {
      this.inFlight--;
      settle();
      if (this.pending.length > 0 && !this.closed) this.scheduleFlush();
    });
    if (!inside) settle();
  }

  private batchFailed(batch: Pending[], error: DcosError): void {
    if (error.code === Code.UNIMPLEMENTED && !this.batchUnsupported) {
      this.batchUnsupported = true;
      this.retry(batch);
      return;
    }
    const bad = error.code === Code.INVALID_ARGUMENT ? BAD_ENTRY.exec(error.message) : null;
    const index = bad ? Number(bad[1]) : -1;
    if (index < 0 || index >= batch.length) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch[index]!.reject(new DcosError(Code.INVALID_ARGUMENT, bad![2]!, { cause: error }));
    this.retry(batch.filter((_, i) => i !== index));
  }

  /** Puts acknowledgements back at the head of the queue, to go with the next flush. */
  private retry(batch: Pending[]): void {
    if (this.closed) {
      for (const p of batch) p.reject(this.closed);
      return;
    }
    this.pending.unshift(...batch);
    this.scheduleFlush();
  }
}
