/**
 * Server-Sent Events for a framework's HTTP API (`/v2/events` and the like): clients
 * attach with an optional filter of event types; `publish(type, data)` writes
 * `event: <type>` and `data: <json>` to each interested client. A comment line goes out
 * every `heartbeatMs` so proxies keep the connection open. A client that does not read
 * (more than `maxBufferedBytes` waiting in its socket) is dropped, never buffered without
 * bound.
 */
import type { ServerResponse } from "node:http";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Clock, Timer } from "../../runtime/clock.js";
import type { Counter, Metrics } from "../../metrics/metrics.js";

export interface EventStreamOptions {
  clock: Clock;
  /** Default 15 s. */
  heartbeatMs?: number;
  /** Default 4 MiB. */
  maxBufferedBytes?: number;
  metrics?: Metrics;
  /** Metric prefix, e.g. "services/events" (default "events"). */
  metricPrefix?: string;
}

/** Whether one client may see an event (e.g. only events of the apps its principal may view). */
export type EventFilter = (type: string, data: unknown) => boolean;

interface Client {
  res: ServerResponse;
  wants: ((type: string) => boolean) | undefined;
  visible: EventFilter | undefined;
}

export class EventStream {
  private readonly clients = new Set<Client>();
  private heartbeat: Timer | undefined;
  private readonly heartbeatMs: number;
  private readonly maxBuffered: number;
  private readonly sent: Counter | undefined;
  private readonly dropped: Counter | undefined;

  constructor(private readonly options: EventStreamOptions) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    const prefix = options.metricPrefix ?? "events";
    this.sent = options.metrics?.counter(`${prefix}/sent`);
    this.dropped = options.metrics?.counter(`${prefix}/slow_clients_dropped`);
  }

  get size(): number {
    return this.clients.size;
  }

  /**
   * Turns the request into an event stream (the reply is hijacked). `types`: only these
   * event types (empty or undefined: all). `first` events are written to this client at once.
   * `visible`: which events this client may see at all.
   */
  attach(req: FastifyRequest, reply: FastifyReply, types?: readonly string[], first: { type: string; data: unknown }[] = [], visible?: EventFilter): void {
    void reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    });
    res.flushHeaders();
    const wanted = types && types.length > 0 ? new Set(types) : undefined;
    const client: Client = { res, wants: wanted ? (t) => wanted.has(t) : undefined, visible };
    this.clients.add(client);
    const remove = () => this.clients.delete(client);
    req.raw.on("close", remove);
    res.on("close", remove);
    res.on("error", remove);
    for (const e of first) this.write(client, frame(e.type, e.data));
    this.armHeartbeat();
  }

  /** Sends an event to every client that wants its type. */
  publish(type: string, data: unknown): void {
    if (this.clients.size === 0) return;
    let text: string | undefined;
    for (const c of this.clients) {
      if (c.wants && !c.wants(type)) continue;
      if (c.visible && !c.visible(type, data)) continue;
      text ??= frame(type, data);
      this.write(c, text);
    }
  }

  /** Ends every stream. */
  close(): void {
    this.heartbeat?.cancel();
    this.heartbeat = undefined;
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private write(c: Client, text: string): void {
    if (c.res.writableLength > this.maxBuffered) {
      this.dropped?.inc();
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(text);
    this.sent?.inc();
  }

  private armHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = this.options.clock.setTimer(this.heartbeatMs, () => {
      this.heartbeat = undefined;
      if (this.clients.size === 0) return;
      for (const c of this.clients) this.write(c, ": heartbeat\n\n");
      this.armHeartbeat();
    });
  }
}

/** One SSE frame; the JSON is one line, so one data field. */
export function frame(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
