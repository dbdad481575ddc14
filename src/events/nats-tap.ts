/**
 * The NATS event tap: every event the bus publishes goes out on
 * `dcos.<cluster>.events.<kind>` (protobuf ClusterEvent; headers name the type), in order,
 * from one connection. It never slows the master: the bus listener only appends to a
 * bounded buffer (the oldest event is dropped and counted when it is full, e.g. while NATS
 * is away), and publishing happens later on the event loop. The connection reconnects on
 * its own, forever. When the server has JetStream, a stream keeps the events so tools can
 * replay from a point in time (`dcos-node events --since`).
 */
import { toBinary } from "@bufbuild/protobuf";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import { ClusterEventSchema, type ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import type { Metrics } from "../metrics/registry.js";
import type { Logger } from "../runtime/log.js";
import type { EventBus } from "./bus.js";
import { eventsSubjectPrefix, eventTypeName, subjectFor, type ClusterEventCase } from "./kinds.js";

export interface NatsTapOptions {
  url: string;
  cluster: string;
  bus: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** Events held while NATS is slow or away (default 10,000). */
  bufferSize?: number;
  /** How long the JetStream stream keeps events (default 24 h). */
  retentionMs?: number;
}

/** The JetStream stream holding a cluster's events. */
export function eventStreamName(cluster: string): string {
  return `DCOS_${cluster.toUpperCase().replace(/-/g, "_")}_EVENTS`;
}

const PUBLISH_BATCH = 1000;
/** Between attempts to make the first connection. */
const RETRY_MS = 500;

export class NatsEventTap {
  private readonly buffer: ClusterEvent[] = [];
  private head = 0;
  private nc: NatsConnection | undefined;
  private connected = false;
  private scheduled = false;
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly published;
  private readonly dropped;
  private readonly connectFailures;
  private readonly targets = new Map<ClusterEventCase, { subject: string; headers: MsgHdrs }>();
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  private readonly capacity: number;
  /** Resolves once the first connection is up, or the tap is closed before that. */
  readonly ready: Promise<void>;
  jetStream = false;

  constructor(private readonly o: NatsTapOptions) {
    this.capacity = o.bufferSize ?? 10_000;
    eventsSubjectPrefix(o.cluster);
    this.published = o.metrics.counter("events/tap_published", "Cluster events published to NATS");
    this.dropped = o.metrics.counter("events/tap_dropped", "Cluster events dropped because the tap's buffer was full");
    this.connectFailures = o.metrics.counter("events/tap_connect_failures", "Failed attempts to make the tap's first connection to NATS");
    o.metrics.gauge("events/tap_buffered", () => this.buffer.length - this.head, "Cluster events waiting to be published");
    o.metrics.gauge("events/tap_connected", () => (this.connected ? 1 : 0), "1 while the tap is connected to NATS");
    this.unsubscribe = o.bus.subscribe((e) => this.offer(e));
    this.ready = this.connect();
  }

  private offer(event: ClusterEvent): void {
    if (this.closed) return;
    if (this.buffer.length - this.head >= this.capacity) {
      this.head++;
      this.dropped.inc();
    }
    this.buffer.push(event);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || !this.connected) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const nc = this.nc;
    if (!nc || !this.connected) return;
    const end = Math.min(this.buffer.length, this.head + PUBLISH_BATCH);
    try {
      for (; this.head < end; this.head++) {
        const e = this.buffer[this.head]!;
        const kind = e.kind.case!;
        const target = this.targetOf(kind);
        nc.publish(target.subject, toBinary(ClusterEventSchema, e), { headers: target.headers });
        this.published.inc();
      }
    } catch (err) {
      this.o.logger.warn({ err }, "Publishing a cluster event to NATS failed; will retry after reconnecting");
    }
    if (this.head > 4096 && this.head * 2 > this.buffer.length) {
      this.buffer.splice(0, this.head);
      this.head = 0;
    }
    if (this.head < this.buffer.length) this.schedule();
  }

  /**
   * Tries to connect until it succeeds or the tap is closed (nats.js's own reconnects take
   * over once connected). Resolves when connected or closed: never keeps running after close.
   */
  /** Subject and headers per kind, made once (nats.js encodes headers when publishing). */
  private targetOf(kind: ClusterEventCase): { subject: string; headers: MsgHdrs } {
    let t = this.targets.get(kind);
    if (!t) {
      const h = headers();
      h.set("Content-Type", "application/x-protobuf; proto=dcos.v1.ClusterEvent");
      h.set("Dcos-Event-Type", eventTypeName(kind));
      this.targets.set(kind, (t = { subject: subjectFor(this.o.cluster, kind), headers: h }));
    }
    return t;
  }

  private async connect(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      let nc: NatsConnection;
      try {
        nc = await connect({ servers: this.o.url, name: "dcos-node event tap", reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: RETRY_MS, timeout: 2000 });
      } catch (err) {
        this.connectFailures.inc();
        if (attempt === 1) this.o.logger.warn({ err: (err as Error).message }, `Event tap cannot reach NATS at ${this.o.url}; retrying every ${RETRY_MS} ms, buffering up to ${this.capacity} events`);
        await new Promise<void>((resolve) => {
          this.wakeUp = resolve;
          this.retryTimer = setTimeout(resolve, RETRY_MS);
        });
        continue;
      }
      if (this.closed) {
        await nc.close();
        return;
      }
      this.nc = nc;
      this.connected = true;
      this.o.logger.info(`Event tap connected to ${this.o.url}; publishing on ${eventsSubjectPrefix(this.o.cluster)}.>`);
      void this.watch(nc);
      await this.ensureStream(nc);
      this.schedule();
      return;
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        this.connected = false;
        this.o.logger.warn(`Event tap lost NATS at ${this.o.url}; buffering up to ${this.capacity} events`);
      } else if (s.type === "reconnect") {
        this.connected = true;
        this.o.logger.info(`Event tap reconnected to ${this.o.url}`);
        this.schedule();
      }
    }
  }

  private async ensureStream(nc: NatsConnection): Promise<void> {
    const name = eventStreamName(this.o.cluster);
    const config = { name, subjects: [`${eventsSubjectPrefix(this.o.cluster)}.>`], max_age: (this.o.retentionMs ?? 86_400_000) * 1_000_000 };
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2000 });
      try {
        await jsm.streams.info(name);
        await jsm.streams.update(name, config);
      } catch {
        await jsm.streams.add(config);
      }
      this.jetStream = true;
      this.o.logger.info(`Cluster events are kept in JetStream stream ${name}`);
    } catch (err) {
      this.o.logger.info({ err: (err as Error).message }, "NATS has no JetStream: events are published but cannot be replayed");
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeUp?.();
    this.unsubscribe();
    const nc = this.nc;
    this.nc = undefined;
    if (!nc) return;
    this.flush();
    await nc.drain().catch(() => nc.close());
  }
}
