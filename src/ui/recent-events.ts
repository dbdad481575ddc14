/**
 * The last cluster events the master published, so the web UI's feed is not empty when a
 * page opens (the live ones then come on /events). Kept as published (the JSON form is made
 * only when a page asks), at most `capacity` of them.
 */
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { EventBus } from "../events/bus.js";

export const DEFAULT_RECENT_EVENTS = 200;

export class RecentEvents {
  private readonly events: ClusterEvent[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    bus: EventBus,
    readonly capacity = DEFAULT_RECENT_EVENTS,
  ) {
    this.unsubscribe = bus.subscribe((e) => {
      if (e.kind.case === "heartbeat") return;
      this.events.push(e);
      if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    });
  }

  /** Oldest first. */
  values(): readonly ClusterEvent[] {
    return this.events;
  }

  close(): void {
    this.unsubscribe();
  }
}
