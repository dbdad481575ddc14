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

export class RecentEvents {
  /**
   * A ring of the events' bytes as the bus encoded them (EventBus.encoded: never written
   * over, so kept as they are): a failover's new leader publishes tens of thousands of events
   * in seconds, and a copy of each for a feed that keeps the last 200 was work on its turn.
   */
  private readonly ring: Uint8Array[] = [];
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
    this.ring[i] = bytes;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first. */
  values(): ClusterEvent[] {
    const out: ClusterEvent[] = [];
    const first = (this.next - this.count + this.capacity) % this.capacity;
    for (let k = 0; k < this.count; k++) out.push(fromBinary(ClusterEventSchema, this.ring[(first + k) % this.capacity]!));
    return out;
  }

  close(): void {
    this.unsubscribe();
  }
}
