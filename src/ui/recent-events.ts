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
  private readonly events: Uint8Array[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    readonly capacity = DEFAULT_RECENT_EVENTS,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind.case === "heartbeat") return;
      // The bus encodes each event once for every listener that keeps bytes (the tap too).
      this.events.push(bus.encoded(e).slice());
      if (this.events.length > this.capacity) this.events.shift();
    });
  }

  /** Oldest first. */
  values(): ClusterEvent[] {
    return this.events.map((bytes) => fromBinary(ClusterEventSchema, bytes));
  }

  close(): void {
    this.unsubscribe();
  }
}
