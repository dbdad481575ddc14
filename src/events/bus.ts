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
/**
 * An encoding buffer's size (~120 task events). A new one is started when less than
 * ARENA_ROOM is left, so that most events fit and a buffer rarely grows (copying what it
 * holds). A kept view keeps its whole buffer: the web UI's 200 recent events hold at most
 * 200 of them (3.2 MiB), usually two.
 */
const ARENA_BYTES = 16 * 1024;
const ARENA_ROOM = 2 * 1024;

export type EventListener = (event: ClusterEvent) => void;

export class EventBus {
  private sequence = 0n;
  private readonly listeners = new Set<EventListener>();
  /** The last event encoded and its bytes, shared by the listeners that keep bytes. */
  private lastEncoded: ClusterEvent | undefined;
  private lastBytes: Uint8Array = new Uint8Array(0);
  /**
   * Events are encoded one after another into this buffer and never written over: the bytes
   * `encoded` gives stay valid as long as a listener keeps them (the web UI's recent events
   * keep their views instead of a copy each). A full buffer is left to its views and a new
   * one started.
   */
  private arena = new ByteBuffer(ARENA_BYTES);

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
   * it is now, and nothing writes over them: a listener may keep them (not change them).
   */
  encoded(event: ClusterEvent): Uint8Array {
    if (event === this.lastEncoded) return this.lastBytes;
    this.lastEncoded = undefined;
    let out = this.arena;
    if (out.buf.length - out.pos < ARENA_ROOM) this.arena = out = new ByteBuffer(ARENA_BYTES);
    const start = out.pos;
    try {
      writeEvent(out, event);
    } catch (err) {
      out.pos = start;
      throw err;
    }
    // A buffer that grew for this event was copied: earlier views keep the old one, unchanged.
    this.lastBytes = out.buf.subarray(start, out.pos);
    this.lastEncoded = event;
    return this.lastBytes;
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
