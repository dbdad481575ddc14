/**
 * The one place cluster events leave a master (or an agent): the owner publishes each
 * event once, synchronously, from inside its actor; listeners (Operator Subscribe streams,
 * the NATS tap, the web UI's event stream) receive it in order. A listener must not block:
 * those that do I/O queue the event and return. A listener that throws is logged and
 * dropped from nothing else: the others still get the event.
 */
import { ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { Logger } from "../runtime/log.js";
import { ByteBuffer, messageWriter } from "../runtime/binary-writer.js";
import type { ClusterEventKind } from "./kinds.js";

const writeEvent = messageWriter(ClusterEventSchema);

export type EventListener = (event: ClusterEvent) => void;

export class EventBus {
  private sequence = 0n;
  private readonly listeners = new Set<EventListener>();
  /** The last event encoded and its bytes (in `scratch`), shared by the listeners that keep bytes. */
  private lastEncoded: ClusterEvent | undefined;
  private readonly scratch = new ByteBuffer(1024);

  constructor(private readonly log?: Logger) {}

  /** Stamps the event with the next sequence number and hands it to every listener. */
  publish(source: string, timestampSeconds: number, kind: ClusterEventKind): ClusterEvent {
    // Every field is given, so the plain object is a complete message; create() would walk the kind again.
    const event: ClusterEvent = { $typeName: "dcos.v1.ClusterEvent", sequence: ++this.sequence, timestamp: timestampSeconds, source, kind };
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.log?.error({ err, kind: kind.case }, `An event listener failed on ${kind.case}`);
      }
    }
    return event;
  }

  /**
   * The event's protobuf bytes (binary-writer.ts: what toBinary gives), encoded once however
   * many listeners keep bytes (the NATS tap and the web UI's recent events each encoded every
   * event: half the cost of publishing an agent's reregistration). The bytes show the event as
   * it is now; they are valid until another event is encoded, so a listener copies them at once.
   */
  encoded(event: ClusterEvent): Uint8Array {
    if (event !== this.lastEncoded) {
      this.lastEncoded = undefined;
      this.scratch.pos = 0;
      writeEvent(this.scratch, event);
      this.lastEncoded = event;
    }
    return this.scratch.buf.subarray(0, this.scratch.pos);
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** The sequence number of the last event published (0 before the first). */
  get lastSequence(): bigint {
    return this.sequence;
  }
}
