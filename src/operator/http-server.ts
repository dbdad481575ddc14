/**
 * What every node's HTTP endpoint shares: a fastify server whose errors are JSON
 * `{error, message}` with a 4xx/5xx status, and the routes masters and agents both serve:
 * /health, /version, /flags, /metrics/snapshot (flat Mesos keys) and /metrics (Prometheus
 * text written from the same registry, metrics.ts).
 */
import Fastify, { type FastifyInstance } from "fastify";
import { createServer, type RequestListener, type Server } from "node:http";
import type { Socket } from "node:net";
import { addHttpGuard } from "../security/auth/http-guard.js";
import type { ServiceSecurity } from "../security/auth/service-security.js";
import type { Metrics } from "../metrics/metrics.js";
import { sendError } from "../runtime/http-errors.js";
import type { Logger } from "../runtime/log.js";

export interface RunningHttp {
  /** host:port the server listens on. */
  readonly address: string;
  close(): Promise<void>;
}

export interface CommonHttpOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  version: string;
  flags: Record<string, unknown>;
  metrics: Metrics;
  logger?: Logger;
  /** Who may call what (none: every request is served, as before authentication existed). */
  security?: ServiceSecurity;
  limits?: Partial<HttpLimits>;
}

/** Bounds on connections, so idle or slow clients cannot hold the endpoint. */
export interface HttpLimits {
  /** A request's headers must arrive within this (default 10 s). */
  headersTimeoutMs: number;
  /** A whole request must arrive within this (default 30 s). */
  requestTimeoutMs: number;
  /** A connection silent this long is closed (default 60 s; /events streams send heartbeats). */
  idleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (default 5 s). */
  keepAliveTimeoutMs: number;
  /** Connections beyond this many are closed at once (default 1,000). */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, idleTimeoutMs: 60_000, keepAliveTimeoutMs: 5_000, maxConnections: 1_000 };

/** Flag values as strings, the way Mesos's /flags shows them. */
export function flagStrings(flags: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || typeof v === "function") continue;
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

/**
 * Closes sockets that moved no byte either way for `idleMs`, also ones that never sent a
 * request (Node's own timeouts start with a request, and socket timeouts stop firing once
 * connectionsCheckingInterval is set). One sweep per server, not a timer per socket.
 */
function closeIdleSockets(server: Server, idleMs: number): void {
  const sockets = new Map<Socket, { bytes: number; at: number }>();
  server.on("connection", (socket: Socket) => {
    sockets.set(socket, { bytes: 0, at: Date.now() });
    socket.once("close", () => sockets.delete(socket));
  });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, seen] of sockets) {
      const bytes = socket.bytesRead + socket.bytesWritten;
      if (bytes !== seen.bytes) {
        seen.bytes = bytes;
        seen.at = now;
      } else if (now - seen.at >= idleMs) socket.destroy();
    }
  }, Math.max(50, Math.min(1000, idleMs / 4)));
  sweep.unref();
  server.once("close", () => clearInterval(sweep));
}

export function createHttpServer(options: CommonHttpOptions): FastifyInstance {
  const limits = { ...DEFAULT_HTTP_LIMITS, ...options.limits };
  const app = Fastify({
    logger: false,
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    serverFactory: (handler: RequestListener) => {
      const server = createServer(
        { headersTimeout: limits.headersTimeoutMs, requestTimeout: limits.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs) },
        handler,
      );
      server.maxConnections = limits.maxConnections;
      server.keepAliveTimeout = limits.keepAliveTimeoutMs;
      closeIdleSockets(server, limits.idleTimeoutMs);
      return server;
    },
  });
  if (options.security) addHttpGuard(app, options.security, options.metrics);
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      return reply.code(err.statusCode).send({ error: "Bad Request", message: err.message });
    }
    options.logger?.warn({ err }, "HTTP handler failed");
    return sendError(reply, err);
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: "NOT_FOUND", message: `No endpoint ${req.method} ${req.url.split("?")[0]}` }));
  const flags = flagStrings(options.flags);
  app.get("/health", async () => ({ healthy: true }));
  app.get("/version", async () => ({ version: options.version }));
  app.get("/flags", async () => ({ flags }));
  app.get("/metrics/snapshot", async () => options.metrics.snapshot());
  app.get("/metrics", async (_req, reply) => {
    reply.type(options.metrics.contentType);
    return options.metrics.prometheusText();
  });
  return app;
}

export async function listen(app: FastifyInstance, host: string, port: number): Promise<RunningHttp> {
  await app.listen({ host, port });
  const addr = app.server.address();
  const actualPort = typeof addr === "object" && addr ? addr.port : port;
  return { address: `${host}:${actualPort}`, close: () => app.close() };
}
