/**
 * A scheduler's Subscribe stream as the master writes it: an EventSink over a gRPC server
 * stream that respects backpressure. While the stream accepts writes, events go straight
 * to it; once `write` returns false they wait in a per-framework queue until 'drain'. A
 * scheduler that lets more than `maxQueuedEvents` pile up, or reads nothing for
 * `stallTimeoutMs` while events wait, is disconnected (`onStall`): the master treats it as
 * a lost stream (failover semantics) and the scheduler may subscribe again.
 *
 * grpc-js writes one message per write completion (its object-mode Writable has no
 * _writev), i.e. one event per event-loop turn of a busy master; `batchWrites` hands every
 * message buffered meanwhile to the HTTP/2 stream at once instead.
 *
 * A scheduler that subscribed with `accepts_update_batches` gets the status updates the
 * master sends it in one turn (the actor system's drain: many messages handled
 * synchronously) as one UPDATES event of up to MAX_UPDATES_PER_BATCH: reconciliation
 * answers and a failover's reregistrations otherwise cost one message, one encoding and one
 * HTTP/2 frame each. Order is kept: any other event first sends the updates before it. A
 * lone update is sent as the UPDATE it always was.
 *
 * The object-mode stream pushes back after 16 messages, whatever their size: 16 OFFERS
 * events of hundreds of offers each are megabytes per scheduler, and at 50,000 agents the
 * leader held 190 MiB of buffers with 163 of 200 schedulers reading slowly. So when `wrap`
 * gives the encoded bytes, the stream also counts the bytes written and not yet taken by
 * HTTP/2 (their write callbacks), and stops writing above `maxPendingBytes` until they
 * fall to half of it.
 */
import type { Writable } from "node:stream";
import type { Event, Event_Update, SubscribeResponse } from "../../gen/dcos/v1/scheduler_pb.js";
import type { Clock, Timer } from "../../runtime/clock.js";
import type { EventSink } from "./framework-record.js";

export interface EventStreamLimits {
  /** Events queued for one scheduler before it is disconnected. Default 100,000. */
  maxQueuedEvents: number;
  /** How long events may wait for a scheduler that reads nothing. Default 60 s. */
  stallTimeoutMs: number;
  /** Encoded bytes written into the stream and not yet taken by HTTP/2 before writes wait. Default 1 MiB. */
  maxPendingBytes: number;
  /**
   * Events queued unread at which the stream says it is backed up (`onBackedUp(true)`); it
   * says so again (`false`) once it has written them all. Default 1,000.
   */
  backedUpEvents: number;
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = { maxQueuedEvents: 100_000, stallTimeoutMs: 60_000, maxPendingBytes: 1024 * 1024, backedUpEvents: 1000 };

/** Updates in one UPDATES event (a few hundred bytes each: well under a transport frame). */
export const MAX_UPDATES_PER_BATCH = 500;

/** One UPDATES event carrying `updates` (a plain object: every field given). */
export function updatesEvent(updates: Event_Update[]): Event {
  return { $typeName: "dcos.v1.Event", kind: { case: "updates", value: { $typeName: "dcos.v1.Event.Updates", updates } } };
}

/** The part of a grpc-js ServerWritableStream the event stream uses. */
export type EventWritable = Pick<Writable, "write" | "once" | "removeListener" | "writableNeedDrain" | "destroyed">;

type WriteCallback = (error?: Error | null) => void;
interface Chunk {
  chunk: unknown;
  encoding: BufferEncoding;
}

/** Lets an object-mode Writable pass all buffered chunks to its _write at once (see above). */
export function batchWrites(writable: Writable): void {
  const w = writable as Writable & { _writev?: (chunks: Chunk[], cb: WriteCallback) => void };
  if (w._writev) return;
  w._writev = (chunks, callback) => {
    let left = chunks.length;
    let failed = false;
    const done = (err?: Error | null): void => {
      if (failed) return;
      if (err) {
        failed = true;
        callback(err);
      } else if (--left === 0) callback();
    };
    for (const c of chunks) w._write(c.chunk, c.encoding, done);
  };
}

export class EventStream implements EventSink {
  private queue: Event[] = [];
  private head = 0;
  private isBlocked = false;
  private stallTimer: Timer | undefined;
  private closed = false;
  /** UPDATE events of this turn, sent as one UPDATES event at its end (batching only). */
  private pendingUpdates: Event[] = [];
  private flushQueued = false;
  /** Encoded bytes written and not yet called back. */
  private pending = 0;
  /** Blocked for `pending` (not for 'drain'). */
  private waitingBytes = false;
  /** Said backed up and not yet caught up. */
  private backedUp = false;
  /** Told when the stream becomes backed up (true) and when it has caught up (false). */
  onBackedUp: ((backedUp: boolean) => void) | undefined;

  constructor(
    private readonly writable: EventWritable,
    /** The stream's message for an event: its encoded bytes (counted, see above) or the message (not counted). */
    private readonly wrap: (event: Event) => SubscribeResponse | Uint8Array,
    private readonly end: () => void,
    private readonly onStall: (why: string) => void,
    private readonly clock: Clock,
    private readonly limits: EventStreamLimits = DEFAULT_EVENT_STREAM_LIMITS,
    /** The scheduler unpacks UPDATES events (SubscribeRequest.accepts_update_batches). */
    private readonly batchUpdates = false,
  ) {}

  /** UPDATES events sent (each carrying two or more updates). */
  batchesSent = 0;

  /** Events waiting for the scheduler to read. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** The stream takes no more writes for now ('drain' or pending bytes awaited). */
  get blocked(): boolean {
    return this.isBlocked;
  }

  /** Encoded bytes written and not yet taken by HTTP/2. */
  get pendingBytes(): number {
    return this.pending;
  }

  send(event: Event): void {
    if (this.closed) return;
    // The scheduler went away (its call was cancelled): the stream ends with its close
    // event; writing on would only fail every event buffered in the dead stream one by one.
    if (this.writable.destroyed) return;
    if (this.batchUpdates) {
      if (event.kind.case === "update") {
        this.pendingUpdates.push(event);
        if (this.pendingUpdates.length >= MAX_UPDATES_PER_BATCH) this.flushUpdates();
        else if (!this.flushQueued) {
          this.flushQueued = true;
          queueMicrotask(this.flushUpdates);
        }
        return;
      }
      if (this.pendingUpdates.length > 0) this.flushUpdates();
    }
    this.enqueue(event);
  }

  /** Sends this turn's updates: one UPDATES event, or the lone UPDATE as it is. */
  private readonly flushUpdates = (): void => {
    this.flushQueued = false;
    const events = this.pendingUpdates;
    if (events.length === 0) return;
    this.pendingUpdates = [];
    if (this.closed || this.writable.destroyed) return;
    if (events.length === 1) return this.enqueue(events[0]!);
    this.batchesSent++;
    this.enqueue(updatesEvent(events.map((e) => e.kind.value as Event_Update)));
  };

  private enqueue(event: Event): void {
    if (this.isBlocked) {
      this.queue.push(event);
      if (!this.backedUp && this.queued >= this.limits.backedUpEvents) {
        this.backedUp = true;
        this.onBackedUp?.(true);
      }
      if (this.queued > this.limits.maxQueuedEvents) {
        this.stall(`it let more than ${this.limits.maxQueuedEvents} events pile up unread`);
      }
      return;
    }
    this.write(event);
  }

  /** Ends the stream after what is queued (an ERROR event before a close must not be lost). */
  close(): void {
    if (this.closed) return;
    if (this.pendingUpdates.length > 0) this.flushUpdates();
    const rest = this.writable.destroyed ? [] : this.queue.slice(this.head);
    this.shutdown();
    // Into a destroyed stream every write fails on its own (an error object each: 0.8 s of a
    // new leader's CPU when replaced streams of 50 frameworks held their reconciliation answers).
    for (const event of rest) this.writable.write(this.wrap(event));
    this.end();
  }

  private write(event: Event): void {
    const message = this.wrap(event);
    let accepted: boolean;
    if (message instanceof Uint8Array) {
      const n = message.byteLength;
      this.pending += n;
      accepted = this.writable.write(message, () => this.written(n));
      if (accepted && this.pending > this.limits.maxPendingBytes) {
        this.isBlocked = true;
        this.waitingBytes = true;
        this.armStall();
        return;
      }
    } else {
      accepted = this.writable.write(message);
    }
    if (accepted) return;
    this.isBlocked = true;
    this.writable.once("drain", this.drained);
    this.armStall();
  }

  /** A write's bytes were taken by HTTP/2: at half the bound or below, writing goes on. */
  private written(n: number): void {
    this.pending -= n;
    if (this.waitingBytes && this.pending <= this.limits.maxPendingBytes / 2) {
      this.waitingBytes = false;
      this.drained();
    }
  }

  private armStall(): void {
    this.stallTimer ??= this.clock.setTimer(this.limits.stallTimeoutMs, () => {
      this.stallTimer = undefined;
      this.stall(`it read no event for ${this.limits.stallTimeoutMs} ms while ${this.queued} waited`);
    });
  }

  private readonly drained = (): void => {
    if (this.closed) return;
    this.isBlocked = false;
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    while (!this.isBlocked && this.head < this.queue.length) {
      const event = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Event;
      this.write(event);
    }
    if (this.head === this.queue.length || this.head > 4096) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.backedUp && this.queued === 0 && !this.isBlocked) {
      this.backedUp = false;
      this.onBackedUp?.(false);
    }
  };

  private stall(why: string): void {
    if (this.closed) return;
    this.shutdown();
    this.onStall(why);
  }

  private shutdown(): void {
    this.closed = true;
    this.stallTimer?.cancel();
    this.stallTimer = undefined;
    this.writable.removeListener("drain", this.drained);
    this.queue = [];
    this.head = 0;
    this.pendingUpdates = [];
  }
}
