/**
 * The NATS event tap's worker thread: owns the connection (first connect retried until it
 * works, then nats.js reconnects forever) and the JetStream stream. Batches of events come
 * from the master's thread already encoded (protobuf ClusterEvents back to back in one
 * transferred buffer, with each event's end offset and kind index) and are published in
 * order, one NATS message per event, without headers: the subject names the kind and the
 * payload is a dcos.v1.ClusterEvent (headers cost more CPU here than the publish itself, and
 * this thread shares the machine with the master). A batch of BATCH_FROM events or more (the
 * master's thread fell behind: a failover's storm) goes out as one ClusterEventBatch message
 * per kind instead, with the header `Dcos-Event-Batch` (tap-message.ts): per kind the order
 * is kept; across kinds each event's sequence number tells it. Each batch is acknowledged with
 * how many went out, so the master's thread keeps the bounded buffer and sends the next.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { natsConnectOptions, type NatsSecurity } from "../runtime/transports/nats-security.js";
import { constants as osConstants, setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { EVENT_CASES, eventsSubjectPrefix, eventStreamName, subjectFor } from "./kinds.js";
import { BATCH_HEADER, groupByKind, packBatches } from "./tap-message.js";

/** Batches handed over with at least this many events are published as ClusterEventBatch messages. */
export const BATCH_FROM = 64;

export interface TapWorkerOptions {
  url: string;
  cluster: string;
  /** TLS and credentials for NATS (file paths and names, read in the worker). */
  security?: NatsSecurity;
  retentionMs: number;
  /** Only for log messages: how much the master's side buffers. */
  capacity: string;
}

/** From the master's thread. */
export type ToTapWorker = { type: "publish"; data: Uint8Array; ends: Uint32Array; kinds: Uint8Array } | { type: "close" };

/** To the master's thread. */
export type FromTapWorker =
  | { type: "published"; count: number; sent: number; messages: number }
  | { type: "connected"; jetStream?: boolean }
  | { type: "disconnected" }
  | { type: "connectFailure" }
  | { type: "log"; level: "info" | "warn"; msg: string; fields?: Record<string, unknown> }
  | { type: "closed" };

/** Between attempts to make the first connection. */
const RETRY_MS = 500;

class TapWorker {
  private nc: NatsConnection | undefined;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private wakeUp: (() => void) | undefined;
  /** Subject per kind index. */
  private readonly subjects: readonly string[];

  constructor(private readonly o: TapWorkerOptions) {
    this.subjects = EVENT_CASES.map((kind) => subjectFor(o.cluster, kind));
  }

  private post(m: FromTapWorker): void {
    parentPort!.postMessage(m);
  }

  log(level: "info" | "warn", msg: string, fields?: Record<string, unknown>): void {
    this.post({ type: "log", level, msg, fields });
  }

  publish(data: Uint8Array, ends: Uint32Array, kinds: Uint8Array): void {
    let sent = 0;
    let messages = 0;
    const nc = this.nc;
    try {
      if (nc && ends.length >= BATCH_FROM) {
        // Room for the headers and the protocol line within the server's max_payload.
        const maxBytes = Math.max(4096, (nc.info?.max_payload ?? 1024 * 1024) - 1024);
        for (const picks of groupByKind(kinds)) {
          const subject = this.subjects[kinds[picks[0]!]!]!;
          for (const { payload, count } of packBatches(data, ends, picks, maxBytes)) {
            const h = natsHeaders();
            h.set(BATCH_HEADER, String(count));
            nc.publish(subject, payload, { headers: h });
            sent += count;
            messages++;
          }
        }
        this.post({ type: "published", count: ends.length, sent, messages });
        return;
      }
      for (let i = 0, start = 0; nc && i < ends.length; start = ends[i]!, i++) {
        nc.publish(this.subjects[kinds[i]!]!, data.subarray(start, ends[i]));
        sent++;
        messages++;
      }
    } catch (err) {
      this.log("warn", "Publishing a cluster event to NATS failed; the rest of the batch is dropped", { err: (err as Error).message });
    }
    this.post({ type: "published", count: ends.length, sent, messages });
  }

  async connect(): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      let nc: NatsConnection;
      try {
        nc = await connect({
          servers: this.o.url,
          name: "dcos-node event tap",
          reconnect: true,
          maxReconnectAttempts: -1,
          reconnectTimeWait: RETRY_MS,
          timeout: 2000,
          ...(await natsConnectOptions(this.o.security)),
        });
      } catch (err) {
        this.post({ type: "connectFailure" });
        if (attempt === 1) this.log("warn", `Event tap cannot reach NATS at ${this.o.url}; retrying every ${RETRY_MS} ms, buffering up to ${this.o.capacity} of events`, { err: (err as Error).message });
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
      this.log("info", `Event tap connected to ${this.o.url}; publishing on ${eventsSubjectPrefix(this.o.cluster)}.>`);
      void this.watch(nc);
      this.post({ type: "connected", jetStream: await this.ensureStream(nc) });
      return;
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === "disconnect") {
        this.post({ type: "disconnected" });
        this.log("warn", `Event tap lost NATS at ${this.o.url}; buffering up to ${this.o.capacity} of events`);
      } else if (s.type === "reconnect") {
        this.post({ type: "connected" });
        this.log("info", `Event tap reconnected to ${this.o.url}`);
      }
    }
  }

  private async ensureStream(nc: NatsConnection): Promise<boolean> {
    const name = eventStreamName(this.o.cluster);
    const config = { name, subjects: [`${eventsSubjectPrefix(this.o.cluster)}.>`], max_age: this.o.retentionMs * 1_000_000 };
    try {
      const jsm = await jetstreamManager(nc, { timeout: 2000 });
      try {
        await jsm.streams.info(name);
        await jsm.streams.update(name, config);
      } catch {
        await jsm.streams.add(config);
      }
      this.log("info", `Cluster events are kept in JetStream stream ${name}`);
      return true;
    } catch (err) {
      this.log("info", "NATS has no JetStream: events are published but cannot be replayed", { err: (err as Error).message });
      return false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.wakeUp?.();
    const nc = this.nc;
    this.nc = undefined;
    if (nc) await nc.drain().catch(() => nc.close());
    this.post({ type: "closed" });
  }
}

/**
 * Lowest CPU priority for this thread only: on Linux a nice value belongs to the thread
 * (setpriority on "this process" from a thread changes that thread), so when the cores are
 * busy the master's thread runs first and the tap catches up later, or drops and counts.
 */
function yieldCpuToTheMaster(worker: TapWorker): void {
  try {
    setPriority(osConstants.priority.PRIORITY_LOW);
  } catch (err) {
    worker.log("info", "The event tap's thread keeps its CPU priority", { err: (err as Error).message });
  }
}

if (parentPort && (workerData as { tapWorker?: TapWorkerOptions } | undefined)?.tapWorker) {
  const worker = new TapWorker((workerData as { tapWorker: TapWorkerOptions }).tapWorker);
  yieldCpuToTheMaster(worker);
  parentPort.on("message", (m: ToTapWorker) => {
    if (m.type === "publish") worker.publish(m.data, m.ends, m.kinds);
    else void worker.close();
  });
  void worker.connect();
}
