/**
 * What every node's HTTP endpoint shares: a fastify server whose errors are JSON
 * `{error, message}` with a 4xx/5xx status, and the routes masters and agents both serve:
 * /health, /version, /flags, /metrics/snapshot (flat Mesos keys) and /metrics (Prometheus
 * text, from the same registry through prom-client).
 */
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { Metrics } from "../metrics/registry.js";
import { asDcosError, Code } from "../runtime/error.js";
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
}

const HTTP_STATUS: Partial<Record<Code, number>> = {
  [Code.INVALID_ARGUMENT]: 400,
  [Code.OUT_OF_RANGE]: 400,
  [Code.FAILED_PRECONDITION]: 409,
  [Code.ALREADY_EXISTS]: 409,
  [Code.NOT_FOUND]: 404,
  [Code.PERMISSION_DENIED]: 403,
  [Code.UNAUTHENTICATED]: 401,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.UNIMPLEMENTED]: 501,
  [Code.UNAVAILABLE]: 503,
  [Code.DEADLINE_EXCEEDED]: 504,
};

/** Sends `{error, message}` with the HTTP status for the error's code. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asDcosError(err);
  const status = HTTP_STATUS[e.code] ?? 500;
  return reply.code(status).type("application/json").send({ error: Code[e.code], message: e.message });
}

/** Flag values as strings, the way Mesos's /flags shows them. */
export function flagStrings(flags: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || typeof v === "function") continue;
    out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return out;
}

export function createHttpServer(options: CommonHttpOptions): FastifyInstance {
  const app = Fastify({ logger: false });
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
    reply.type(options.metrics.prometheus.contentType);
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
