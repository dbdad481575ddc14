/**
 * The NATS event tap: every event the bus publishes goes out on
 * `dcos.<cluster>.events.<kind>` (a protobuf ClusterEvent; no headers), in order,
 * from one connection. It never slows the master: the bus listener encodes the event at
 * once into a bounded buffer (tap-buffer.ts: the bytes show the event as it was when
 * published, not the live records it points to; the buffer is bounded in bytes, sized for a
 * failover's burst, and the oldest event is dropped and counted beyond it, e.g. while NATS is
 * away). Publishing happens in a worker thread (nats-tap-worker.ts), which
 * gets batches as one transferred ArrayBuffer (no structured clone; at most
 * MAX_IN_FLIGHT_BATCHES batches in flight; while that many are out, the open batch grows to
 * BEHIND_BATCH events, so a backlog goes over in one transfer per drain) and owns the connection: it reconnects on its own, forever, and keeps the events in a
 * JetStream stream when the server has it, so tools can replay from a point in time
 * (`dcos-node events --since`).
 */
import { Worker } from "node:worker_threads";
import type { ClusterEvent } from "../gen/dcos/v1/operator_pb.js";
import { TapBuffer } from "./tap-buffer.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Logger } from "../runtime/log.js";
import type { EventBus } from "./bus.js";
import { eventsSubjectPrefix } from "./kinds.js";
import type { FromTapWorker, TapWorkerOptions, ToTapWorker } from "./nats-tap-worker.js";
import type { NatsSecurity } from "../runtime/transports/nats-security.js";

export { eventStreamName } from "./kinds.js";

export interface NatsTapOptions {
  url: string;
  cluster: string;
  bus: EventBus;
  metrics: Metrics;
  logger: Logger;
  /** Bytes of encoded events held while NATS or the worker is slow or away (default 64 MiB: a failover's burst at 50,000 agents). */
  bufferBytes?: number;
  /** Events held at most besides the bytes (default: no bound but the bytes). */
  bufferSize?: number;
  /** How long the JetStream stream keeps events (default 24 h). */
  retentionMs?: number;
  /** TLS and credentials for NATS (check them first with natsConnectOptions: the worker only retries). */
  security?: NatsSecurity;
}

/** Events per batch handed to the worker. */
const PUBLISH_BATCH = 2000;
/**
 * Events per batch while MAX_IN_FLIGHT_BATCHES are out: the worker is behind (a failover's
 * burst, the worker waiting for a core), so everything buffered meanwhile goes over as one
 * transfer when it acknowledges (one hand-off, one ack, few NATS messages per kind).
 */
const BEHIND_BATCH = 65_536;
/** Default bound of the buffer: a failover at 50,000 agents and 250,000 tasks publishes about 300,000 events of ~100-200 bytes. */
export const DEFAULT_TAP_BUFFER_BYTES = 64 << 20;
/** Fewer events than this wait up to FLUSH_DELAY_MS for more (one transfer per few events costs the master). */
const SMALL_BATCH = 256;
const FLUSH_DELAY_MS = 2;
/**
 * Batches handed to the worker before it acknowledges one. More than one: with a backlog (a
 * failover's storm) the worker, at the lowest CPU priority, may wait long for a core, and
 * each batch it holds is one the bounded buffer does not have to.
 */
const MAX_IN_FLIGHT_BATCHES = 4;
const WORKER_URL = new URL("./nats-tap-worker.js", import.meta.url);

export class NatsEventTap {
  private readonly buffer: TapBuffer;
  /** Events handed to the worker and not yet acknowledged. */
  private inFlight = 0;
  private batchesInFlight = 0;
  /** The most events (buffered and handed over, unacknowledged) and buffered bytes held at once. */
  private peakEvents = 0;
  private peakBytes = 0;
  private connected = false;
  private scheduled = false;
  private closed = false;
  private readonly worker: Worker;
  private readonly unsubscribe: () => void;
  private readonly published;
  private readonly dropped;
  private readonly connectFailures;
  private readonly batches;
  private readonly messages;
  private readonly maxBytes: number;
  private markReady!: () => void;
  private workerClosed: (() => void) | undefined;
  /** Resolves once the first connection is up, or the tap is closed before that. */
  readonly ready: Promise<void>;
  jetStream = false;

  constructor(private readonly o: NatsTapOptions) {
    this.maxBytes = o.bufferBytes ?? DEFAULT_TAP_BUFFER_BYTES;
    eventsSubjectPrefix(o.cluster);
    this.published = o.metrics.counter("events/tap_published", "Cluster events published to NATS");
    this.dropped = o.metrics.counter("events/tap_dropped", "Cluster events dropped because the tap's buffer was full");
    this.connectFailures = o.metrics.counter("events/tap_connect_failures", "Failed attempts to make the tap's first connection to NATS");
    this.batches = o.metrics.counter("events/tap_batches", "Batches of encoded events handed to the tap's worker thread");
    this.messages = o.metrics.counter("events/tap_messages", "NATS messages the tap published (a backlog goes out as one ClusterEventBatch message per kind)");
    this.buffer = new TapBuffer({ maxBytes: this.maxBytes, ...(o.bufferSize !== undefined ? { maxEvents: o.bufferSize } : {}) }, PUBLISH_BATCH, () => this.dropped.inc(), (e) => o.bus.encoded(e));
    o.metrics.gauge("events/tap_buffered", () => this.buffer.length + this.inFlight, "Cluster events waiting to be published");
    o.metrics.gauge("events/tap_buffered_bytes", () => this.buffer.bytes, "Bytes of encoded cluster events in the tap's buffer (not yet handed to its worker)");
    o.metrics.gauge("events/tap_buffered_peak", () => this.peakEvents, "The most cluster events the tap held at once (buffered and handed to its worker, unacknowledged)");
    o.metrics.gauge("events/tap_buffered_peak_bytes", () => this.peakBytes, "The most bytes of encoded cluster events the tap's buffer held at once");
    o.metrics.gauge("events/tap_connected", () => (this.connected ? 1 : 0), "1 while the tap is connected to NATS");
    this.ready = new Promise((resolve) => (this.markReady = resolve));
    const tapWorker: TapWorkerOptions = { url: o.url, cluster: o.cluster, retentionMs: o.retentionMs ?? 86_400_000, capacity: `${Math.round(this.maxBytes / 1024)} KiB${o.bufferSize !== undefined ? ` or ${o.bufferSize} events` : ""}`, ...(o.security ? { security: o.security } : {}) };
    this.worker = new Worker(WORKER_URL, { workerData: { tapWorker } });
    this.worker.on("message", (m: FromTapWorker) => this.fromWorker(m));
    this.worker.on("error", (err) => o.logger.error({ err }, "The event tap's worker failed; events are no longer published"));
    this.worker.on("exit", () => {
      this.connected = false;
      this.workerClosed?.();
      this.markReady();
    });
    this.unsubscribe = o.bus.subscribe((e) => this.offer(e));
  }

  /** The bus listener, on the master's turn: encodes the event as it is now and buffers it. */
  private offer(event: ClusterEvent): void {
    if (this.closed) return;
    this.buffer.push(event);
    if (this.buffer.length + this.inFlight > this.peakEvents) this.peakEvents = this.buffer.length + this.inFlight;
    if (this.buffer.bytes > this.peakBytes) this.peakBytes = this.buffer.bytes;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || !this.connected || this.batchesInFlight >= MAX_IN_FLIGHT_BATCHES || this.buffer.length === 0) return;
    this.scheduled = true;
    if (this.buffer.length >= SMALL_BATCH) setImmediate(() => this.flush());
    else setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  /** Hands the next batch to the worker (off the master's turn). */
  private flush(): void {
    this.scheduled = false;
    if (!this.connected) return;
    while (this.batchesInFlight < MAX_IN_FLIGHT_BATCHES && this.sendBatch());
  }

  /** Transfers the oldest batch to the worker; false when there is none. */
  private sendBatch(): boolean {
    const batch = this.buffer.take();
    if (!batch) return false;
    this.inFlight += batch.ends.length;
    this.batchesInFlight++;
    this.batches.inc();
    this.paceBatches();
    const { data, ends, kinds, transfer } = batch;
    this.worker.postMessage({ type: "publish", data, ends, kinds } satisfies ToTapWorker, transfer);
    return true;
  }

  /** Batches as big as BEHIND_BATCH while the worker holds all it may, else PUBLISH_BATCH. */
  private paceBatches(): void {
    this.buffer.batchSize = this.batchesInFlight >= MAX_IN_FLIGHT_BATCHES ? BEHIND_BATCH : PUBLISH_BATCH;
  }

  private fromWorker(m: FromTapWorker): void {
    switch (m.type) {
      case "published":
        this.inFlight -= m.count;
        this.batchesInFlight--;
        this.paceBatches();
        this.published.inc(m.sent);
        this.messages.inc(m.messages);
        this.schedule();
        return;
      case "connected":
        this.connected = true;
        if (m.jetStream !== undefined) this.jetStream = m.jetStream;
        this.markReady();
        this.schedule();
        return;
      case "disconnected":
        this.connected = false;
        return;
      case "connectFailure":
        this.connectFailures.inc();
        return;
      case "log":
        this.o.logger[m.level](m.fields ?? {}, m.msg);
        return;
      case "closed":
        this.workerClosed?.();
        return;
    }
  }

  /** Stops taking events, publishes what is buffered (when connected), and ends the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.connected) while (this.sendBatch());
    this.buffer.clear();
    const closed = new Promise<void>((resolve) => (this.workerClosed = resolve));
    this.worker.postMessage({ type: "close" } satisfies ToTapWorker);
    await closed;
    this.markReady();
    await this.worker.terminate();
  }
}
