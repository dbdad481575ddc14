/**
 * The event tap's bounded buffer on the master's thread: each event is encoded the moment
 * it is published (so its bytes show the cluster as it was then: events point at the
 * master's live records, which change later) straight into the open batch's byte buffer
 * (binary-writer.ts). A batch is handed over whole, as one transferable ArrayBuffer with
 * each event's end offset and kind index: no copy, no structured clone. The buffer is bounded
 * in bytes (a failover's burst is many small events: 50,000 TASK_ADDED in a few seconds at
 * 10,000 agents) and optionally in events; beyond either bound the oldest event is dropped and
 * counted. A batch holds up to `batchSize` events; the tap raises that while its worker is
 * behind, so what piles up meanwhile goes over in one transfer when the worker asks again.
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

/** A new batch's typed arrays start with room for this many events. */
const PUBLISH_CHUNK = 2048;

class Batch {
  /** Typed arrays filled in place (doubled when full) and transferred as they are. */
  ends: Uint32Array;
  kinds: Uint8Array;
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

  /** Room for one more event. */
  room(): void {
    if (this.count < this.ends.length) return;
    const ends = new Uint32Array(this.ends.length * 2);
    ends.set(this.ends);
    this.ends = ends;
    const kinds = new Uint8Array(this.kinds.length * 2);
    kinds.set(this.kinds);
    this.kinds = kinds;
  }

  /** Bytes of event i. */
  size(i: number): number {
    return this.ends[i]! - (i === 0 ? 0 : this.ends[i - 1]!);
  }
}

/** Bounds of a TapBuffer. */
export interface TapBufferLimits {
  /** Bytes of encoded events held at most. */
  maxBytes: number;
  /** Events held at most (default: no bound but the bytes). */
  maxEvents?: number;
}

/** A batch is closed at this many bytes even when it may hold more events (the worker packs it into NATS messages of max_payload). */
const MAX_BATCH_BYTES = 16 << 20;

export class TapBuffer {
  private batches: Batch[] = [];
  private count = 0;
  private held = 0;
  private readonly maxBytes: number;
  private readonly maxEvents: number;
  /** Bytes of the last batch taken: the next one starts that big (no regrowing each time)... */
  private lastBytes = 4096;
  /**
   * ...but no bigger than `batchSize` events of the last batch's average size need: after a
   * backlog's batch of megabytes (a worker behind), the batches of PUBLISH_BATCH events that
   * follow each started at 4 MiB, and a buffer that big costs far more to allocate and fault in
   * than the few hundred KiB they fill (~30 ms of a new leader's failover at 10,000 agents).
   */
  private bytesPerEvent = 256;

  constructor(
    limits: TapBufferLimits,
    /** Events per batch; the tap changes it (a bigger batch while its worker is behind). */
    public batchSize: number,
    private readonly dropped: () => void,
    /** The event's bytes when another listener shares them (EventBus.encoded); else written here. */
    private readonly encoded?: (event: ClusterEvent) => Uint8Array,
  ) {
    if (!(limits.maxBytes > 0)) throw new RangeError(`the tap's buffer needs a positive byte bound, not ${limits.maxBytes}`);
    this.maxBytes = limits.maxBytes;
    this.maxEvents = limits.maxEvents ?? Number.POSITIVE_INFINITY;
  }

  /** Events held. */
  get length(): number {
    return this.count;
  }

  /** Bytes of the encoded events held. */
  get bytes(): number {
    return this.held;
  }

  /** Encodes the event now and keeps it, then drops the oldest while beyond a bound. */
  push(event: ClusterEvent): void {
    if (this.count >= this.maxEvents) this.dropOldest();
    let b = this.batches[this.batches.length - 1];
    if (!b || b.count >= this.batchSize || b.out.pos >= MAX_BATCH_BYTES) this.batches.push((b = new Batch(new ByteBuffer(this.firstBytes()), Math.min(this.batchSize, PUBLISH_CHUNK))));
    b.room();
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
    this.held += b.out.pos - start;
    while (this.held > this.maxBytes && this.count > 0) this.dropOldest();
  }

  /** A new batch's buffer size (see lastBytes). */
  private firstBytes(): number {
    return Math.max(4096, Math.min(this.lastBytes, Math.ceil(this.bytesPerEvent * this.batchSize * 1.25)));
  }

  private dropOldest(): void {
    const b = this.batches[0];
    if (!b) return;
    this.held -= b.size(b.first);
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
    this.held -= b.out.pos - (b.first === 0 ? 0 : b.ends[b.first - 1]!);
    const start = b.first === 0 ? 0 : b.ends[b.first - 1]!;
    const ends = b.ends.subarray(b.first, b.count);
    const kinds = b.kinds.subarray(b.first, b.count);
    if (start !== 0) for (let i = 0; i < ends.length; i++) ends[i] = ends[i]! - start;
    this.lastBytes = Math.max(4096, Math.min(b.out.pos + (b.out.pos >> 2), 4 << 20));
    if (ends.length > 0) this.bytesPerEvent = Math.max(16, (b.out.pos - start) / ends.length);
    const buffer = b.out.buf.buffer as ArrayBuffer;
    return { data: new Uint8Array(buffer, start, b.out.pos - start), ends, kinds, transfer: [buffer, ends.buffer as ArrayBuffer, kinds.buffer as ArrayBuffer] };
  }

  clear(): void {
    this.batches = [];
    this.count = 0;
    this.held = 0;
  }
}
