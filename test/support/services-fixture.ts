/**
 * A test-only stand-in for a Marathon-compatible services API, for the load balancer's own
 * tests: it serves `GET /v2/apps?embed=apps.tasks` from apps the test sets and a
 * `/v2/events` Server-Sent Events stream of the events the test emits, in Marathon's
 * shapes. (The load balancer's end-to-end tests run against the real services framework.)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { MarathonApp } from "../../src/discovery/lb/marathon-apps.js";

export class ServicesFixture {
  apps: MarathonApp[] = [];
  /** GET /v2/apps answered so far. */
  appsRequests = 0;
  /** The next this many GET /v2/apps are answered 503 (a services API without a leader for a moment). */
  failApps = 0;
  private readonly clients = new Set<ServerResponse>();
  private server: Server | undefined;
  url = "";
  /** When set, requests without this Authorization header are answered 401. */
  authorization: string | undefined;

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  get eventClients(): number {
    return this.clients.size;
  }

  /** Replaces the apps and tells the event stream (as Marathon would, with a status update). */
  set(apps: MarathonApp[], eventType = "status_update_event"): void {
    this.apps = apps;
    this.emit(eventType, { eventType, timestamp: new Date().toISOString() });
  }

  emit(type: string, data: unknown): void {
    for (const c of this.clients) c.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Ends every event stream (as a services leader that goes away would). */
  dropStreams(): void {
    for (const c of this.clients) c.destroy();
    this.clients.clear();
  }

  async stop(): Promise<void> {
    this.dropStreams();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? "/", this.url);
    if (this.authorization !== undefined && req.headers.authorization !== this.authorization) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ message: "Unauthorized" }));
      return;
    }
    if (req.method === "GET" && url.pathname === "/v2/apps") {
      this.appsRequests++;
      if (this.failApps > 0) {
        this.failApps--;
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: "No leader: no instance holds the leader lease right now; retry shortly" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ apps: this.apps }));
      return;
    }
    if (req.method === "GET" && url.pathname === "/v2/events") {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      res.write(`event: event_stream_attached\ndata: {"remoteAddress":"127.0.0.1","eventType":"event_stream_attached"}\n\n`);
      this.clients.add(res);
      req.on("close", () => this.clients.delete(res));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ message: `No endpoint ${req.method} ${url.pathname}` }));
  }
}
