/**
 * One consumer of the event bus that starts with a snapshot: subscribe inside the actor
 * (together with taking the snapshot, so nothing is missed or seen twice), then `start`
 * once the snapshot is on its way; events published in between wait in a queue. A consumer
 * that falls too far behind (its queue or its socket buffer grows past the limit) is closed
 * rather than allowed to grow the master's memory.
 */
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { EventBus } from "./bus.js";

export interface EventConsumer {
  /** Delivers one event; returns the bytes now buffered for the consumer (socket backlog). */
  deliver(event: ClusterEvent): number;
  /** Ends the consumer because it fell behind. */
  overflow(why: string): void;
}

export class BusSubscription {
  private queue: ClusterEvent[] | undefined = [];
  private consumer: EventConsumer | undefined;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    bus: EventBus,
    private readonly maxQueued = 10_000,
    private readonly maxBufferedBytes = 64 * 1024 * 1024,
  ) {
    this.unsubscribe = bus.subscribe((e) => this.onEvent(e));
  }

  private onEvent(event: ClusterEvent): void {
    if (this.closed) return;
    if (this.queue) {
      this.queue.push(event);
      if (this.queue.length > this.maxQueued) this.fail(`more than ${this.maxQueued} events queued before the stream started`);
      return;
    }
    const buffered = this.consumer!.deliver(event);
    if (buffered > this.maxBufferedBytes) this.fail(`the consumer is ${buffered} bytes behind`);
  }

  private fail(why: string): void {
    const consumer = this.consumer;
    this.close();
    consumer?.overflow(why);
  }

  /** Sends what queued since subscribing, then every event as it comes. */
  start(consumer: EventConsumer): void {
    if (this.closed) return;
    this.consumer = consumer;
    const queued = this.queue ?? [];
    this.queue = undefined;
    for (const e of queued) this.onEvent(e);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = undefined;
    this.unsubscribe();
  }
}
