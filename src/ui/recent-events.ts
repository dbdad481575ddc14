/**
 * The last cluster events the master published, so the web UI's feed is not empty when a
 * page opens (the live ones then come on /events). Kept encoded as they were when published
 * (their messages are the master's live records, which change later), at most `capacity`.
 * Encoded with the event tap's writer (binary-writer.ts: the bytes toBinary gives, at a
 * fraction of its cost: this runs on the master's turn for every event it publishes), once
 * per event for this feed and the NATS tap (EventBus.encoded).
 */
import { fromBinary } from "@bufbuild/protobuf";
import { ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { EventBus } from "../events/bus.js";

export const DEFAULT_RECENT_EVENTS = 200;
/** A slot's size for most events (a task's or an agent's: 150-600 bytes). */
const SMALL_SLOT = 1024;

export class RecentEvents {
  /**
   * A ring of byte buffers reused from event to event: a failover's new leader publishes
   * tens of thousands of events in seconds, and a copy of each (slice) with a shift of the
   * list was an allocation and a move per event for a feed that keeps the last 200.
   */
  private readonly slots: Uint8Array[] = [];
  private readonly lengths: number[] = [];
  /** The slot the next event goes to, and how many slots hold events. */
  private next = 0;
  private count = 0;
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    readonly capacity = DEFAULT_RECENT_EVENTS,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind.case === "heartbeat") return;
      // The bus encodes each event once for every listener that keeps bytes (the tap too).
      this.keep(bus.encoded(e));
    });
  }

  private keep(bytes: Uint8Array): void {
    const i = this.next;
    let slot = this.slots[i];
    // A slot grows to the event it holds; one that held a big event shrinks back when reused.
    if (slot === undefined || slot.length < bytes.length || (slot.length > SMALL_SLOT && bytes.length <= SMALL_SLOT)) {
      slot = new Uint8Array(Math.max(SMALL_SLOT, bytes.length));
      this.slots[i] = slot;
    }
    slot.set(bytes);
    this.lengths[i] = bytes.length;
    this.next = (i + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first. */
  values(): ClusterEvent[] {
    const out: ClusterEvent[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let k = 0; k < this.count; k++) {
      const i = (first + k) % this.capacity;
      out.push(fromBinary(ClusterEventSchema, this.slots[i]!.subarray(0, this.lengths[i])));
    }
    return out;
  }

  close(): void {
    this.unsubscribe();
  }
}
