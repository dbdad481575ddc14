/**
 * The load balancer's own HTTP endpoints, marathon-lb's names (port 9090 by default):
 * `/haproxy?stats` (haproxy's stats page, passed through from its stats socket),
 * `/_haproxy_getconfig` (the configuration haproxy runs), `/_haproxy_health_check` (200
 * while haproxy runs), and `/_lb/status` (JSON: reloads, service ports and their backends,
 * label problems by app id, the last error), plus the common /health and /metrics.
 */
import { request } from "node:http";
import { createHttpServer, type RunningHttp } from "./http-server.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Logger } from "../runtime/log.js";
import type { LoadBalancer } from "../discovery/lb/load-balancer.js";

export interface LbHttpOptions {
  host: string;
  port: number;
  lb: LoadBalancer;
  metrics: Metrics;
  version: string;
  flags: Record<string, unknown>;
  logger: Logger;
}

export async function startLbHttp(o: LbHttpOptions): Promise<RunningHttp> {
  const app = createHttpServer({ host: o.host, port: o.port, version: o.version, flags: o.flags, metrics: o.metrics, logger: o.logger });
  app.get("/_haproxy_health_check", async (_req, reply) => {
    if (!o.lb.healthy) return reply.code(503).type("text/plain").send("haproxy is not running\n");
    return reply.type("text/plain").send("OK\n");
  });
  app.get("/_haproxy_getconfig", async (_req, reply) => reply.type("text/plain").send(o.lb.config));
  app.get("/_lb/status", async () => o.lb.status());
  app.get("/haproxy", (req, reply) => {
    const upstream = request({ socketPath: o.lb.haproxy.statsSocket, path: req.url, method: "GET", timeout: 5000 }, (res) => {
      void reply
        .code(res.statusCode ?? 502)
        .header("content-type", res.headers["content-type"] ?? "text/html")
        .send(res);
    });
    upstream.on("timeout", () => upstream.destroy(new Error("haproxy's stats page did not answer within 5 s")));
    upstream.on("error", (err) => {
      if (!reply.sent) void reply.code(502).send({ error: "UNAVAILABLE", message: `haproxy's stats page: ${err.message}` });
    });
    upstream.end();
  });
  await app.listen({ host: o.host, port: o.port });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  return { address: `${o.host}:${port}`, close: () => app.close() };
}
