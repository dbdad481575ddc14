/**
 * The event tap's bounded buffer on the master's thread: each event is encoded the moment
 * it is published (so its bytes show the cluster as it was then: events point at the
 * master's live records, which change later) straight into the open batch's byte buffer
 * (binary-writer.ts). A batch is handed over whole, as one transferable ArrayBuffer with
 * each event's end offset and kind index: no copy, no structured clone. When the buffer
 * holds `capacity` events, the oldest is dropped.
 */
import { ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import { ByteBuffer, messageWriter } from "../runtime/binary-writer.js";
import { eventCaseIndex } from "./kinds.js";

/** A batch ready to transfer: `data` holds the events back to back, `ends[i]` is where event i ends. */
export interface PackedEvents {
  data: Uint8Array;
  ends: Uint32Array;
  kinds: Uint8Array;
  /** The buffers to list in postMessage's transfer list. */
  transfer: ArrayBuffer[];
}

const writeEvent = messageWriter(ClusterEventSchema);

class Batch {
  /** Typed arrays of the batch's size, filled in place and transferred as they are. */
  readonly ends: Uint32Array;
  readonly kinds: Uint8Array;
  /** Events written. */
  count = 0;
  /** Events before this one were dropped. */
  first = 0;

  constructor(
    readonly out: ByteBuffer,
    size: number,
  ) {
    this.ends = new Uint32Array(size);
    this.kinds = new Uint8Array(size);
  }
}

export class TapBuffer {
  private batches: Batch[] = [];
  private count = 0;
  /** Bytes of the last batch taken: the next one starts that big (no regrowing each time). */
  private lastBytes = 4096;

  constructor(
    private readonly capacity: number,
    private readonly batchSize: number,
    private readonly dropped: () => void,
    /** The event's bytes when another listener shares them (EventBus.encoded); else written here. */
    private readonly encoded?: (event: ClusterEvent) => Uint8Array,
  ) {}

  /** Events held. */
  get length(): number {
    return this.count;
  }

  /** Encodes the event now and keeps it, dropping the oldest when full. */
  push(event: ClusterEvent): void {
    if (this.count >= this.capacity) this.dropOldest();
    let b = this.batches[this.batches.length - 1];
    if (!b || b.count >= this.batchSize) this.batches.push((b = new Batch(new ByteBuffer(this.lastBytes), this.batchSize)));
    const start = b.out.pos;
    try {
      if (this.encoded) b.out.raw(this.encoded(event));
      else writeEvent(b.out, event);
    } catch (err) {
      b.out.pos = start;
      throw err;
    }
    b.ends[b.count] = b.out.pos;
    b.kinds[b.count++] = eventCaseIndex(event.kind.case!);
    this.count++;
  }

  private dropOldest(): void {
    const b = this.batches[0];
    if (!b) return;
    b.first++;
    this.count--;
    this.dropped();
    if (b.first === b.count) this.batches.shift();
  }

  /** Takes the oldest batch, or undefined when empty. */
  take(): PackedEvents | undefined {
    const b = this.batches.shift();
    if (!b) return undefined;
    this.count -= b.count - b.first;
    const start = b.first === 0 ? 0 : b.ends[b.first - 1]!;
    const ends = b.ends.subarray(b.first, b.count);
    const kinds = b.kinds.subarray(b.first, b.count);
    if (start !== 0) for (let i = 0; i < ends.length; i++) ends[i] = ends[i]! - start;
    this.lastBytes = Math.max(4096, Math.min(b.out.pos + (b.out.pos >> 2), 4 << 20));
    const buffer = b.out.buf.buffer as ArrayBuffer;
    return { data: new Uint8Array(buffer, start, b.out.pos - start), ends, kinds, transfer: [buffer, ends.buffer as ArrayBuffer, kinds.buffer as ArrayBuffer] };
  }

  clear(): void {
    this.batches = [];
    this.count = 0;
  }
}
