/**
 * The load balancer's client of a Marathon-compatible services API: `GET
 * /v2/apps?embed=apps.tasks` for the whole picture, and the `/v2/events` Server-Sent
 * Events stream to know when to look again. Several API addresses may be given (any
 * instance answers; standbys proxy to the leader); a failed call or a broken stream moves
 * to the next one, and every (re)connection of the stream asks for a full refresh since
 * events may have been missed meanwhile.
 */
import type { Logger } from "../../runtime/log.js";
import { Backoff } from "../../runtime/backoff.js";
import { Random } from "../../runtime/random.js";
import { parseApps, type MarathonApp } from "./marathon-apps.js";

/** The events after which the apps, tasks or health may differ. */
export const RELEVANT_EVENTS = [
  "api_post_event",
  "status_update_event",
  "health_status_changed_event",
  "instance_changed_event",
  "failed_health_check_event",
  "unhealthy_instance_kill_event",
  "app_terminated_event",
  "deployment_info",
  "deployment_success",
  "deployment_failed",
  "deployment_step_success",
  "deployment_step_failure",
  "group_change_success",
] as const;

export interface ServicesApiOptions {
  /** Base URLs, e.g. http://127.0.0.1:8080. */
  urls: readonly string[];
  logger: Logger;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Timeout of GET /v2/apps (default 10 s). */
  timeoutMs?: number;
}

/** One Server-Sent Event. */
export interface SseEvent {
  type: string;
  data: string;
}

/** Splits an SSE byte stream into events (`event:` / `data:` lines, a blank line ends one). */
export class SseParser {
  private buffer = "";
  private type = "";
  private data: string[] = [];

  constructor(
    private readonly onEvent: (e: SseEvent) => void,
    /** Longest line accepted (a stream that never ends a line is cut off). */
    private readonly maxLine = 16 * 1024 * 1024,
  ) {}

  push(text: string): void {
    this.buffer += text;
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) !== -1) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, "");
      this.buffer = this.buffer.slice(nl + 1);
      this.line(line);
    }
    if (this.buffer.length > this.maxLine) throw new Error(`an event stream line longer than ${this.maxLine} bytes`);
  }

  private line(line: string): void {
    if (line === "") {
      if (this.data.length > 0 || this.type) this.onEvent({ type: this.type || "message", data: this.data.join("\n") });
      this.type = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") this.type = value;
    else if (field === "data") this.data.push(value);
  }
}

export class ServicesApi {
  private index = 0;
  private abort: AbortController | undefined;
  private stopped = false;
  /** Connections of the event stream made so far. */
  connections = 0;
  /** Connections of the event stream that failed or ended. */
  failures = 0;

  constructor(private readonly o: ServicesApiOptions) {
    if (o.urls.length === 0) throw new Error("No services API address given (--marathon=http://host:8080)");
  }

  get url(): string {
    return this.o.urls[this.index]!.replace(/\/+$/, "");
  }

  /** Every app with its tasks. */
  async apps(): Promise<MarathonApp[]> {
    let last: unknown;
    for (let i = 0; i < this.o.urls.length; i++) {
      const url = `${this.url}/v2/apps?embed=apps.tasks`;
      try {
        const res = await fetch(url, { headers: { accept: "application/json", ...this.o.headers }, signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000) });
        if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
        return parseApps(await res.json());
      } catch (err) {
        last = err;
        this.index = (this.index + 1) % this.o.urls.length;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  /**
   * Follows /v2/events until stop(): `changed()` after each relevant event and after each
   * (re)connection. Reconnects with a backoff up to 2 s.
   */
  follow(changed: (why: string) => void): void {
    void this.loop(changed);
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  private async loop(changed: (why: string) => void): Promise<void> {
    const backoff = new Backoff({ initialMs: 100, maxMs: 2000 }, Random.fromOs());
    while (!this.stopped) {
      const query = RELEVANT_EVENTS.map((t) => `event_type=${t}`).join("&");
      const url = `${this.url}/v2/events?${query}`;
      this.abort = new AbortController();
      try {
        const res = await fetch(url, { headers: { accept: "text/event-stream", ...this.o.headers }, signal: this.abort.signal });
        if (!res.ok || !res.body) throw new Error(`GET ${url}: HTTP ${res.status}`);
        this.connections++;
        backoff.reset();
        changed("connected to the event stream");
        const parser = new SseParser((e) => {
          if ((RELEVANT_EVENTS as readonly string[]).includes(e.type)) changed(e.type);
        });
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.push(decoder.decode(chunk, { stream: true }));
        throw new Error("the event stream ended");
      } catch (err) {
        if (this.stopped) return;
        this.failures++;
        const wait = backoff.next();
        this.o.logger.info(`Services event stream at ${this.url}: ${(err as Error).message}; reconnecting in ${wait} ms`);
        this.index = (this.index + 1) % this.o.urls.length;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}
