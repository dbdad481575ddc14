/**
 * Non-leaders answer by proxying to the leader (or redirecting with 307), like Marathon
 * behind ZooKeeper. Installed as a fastify onRequest hook, before the body is read, so
 * the request streams through unchanged (Server-Sent Events included).
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../../runtime/log.js";

export interface LeaderRouting {
  isLeader(): boolean;
  /** The leader's HTTP host:port, undefined while none is known. */
  leaderAddress(): string | undefined;
  /** This instance's HTTP host:port (marks proxied requests, to detect loops). */
  selfAddress(): string;
}

export interface LeaderProxyOptions {
  /** "proxy" (default) forwards the request; "redirect" answers 307 to the leader. */
  mode?: "proxy" | "redirect";
  /** The scheme of the leader's URL in a redirect (default "http"; "https" for instances serving TLS). */
  leaderScheme?: "http" | "https";
  /** Paths answered by every instance itself (e.g. /ping, /v2/leader, /metrics, the UI). */
  local?: (path: string, method: string) => boolean;
  /** Header set on every answer naming the leader, e.g. "X-Marathon-Leader" (value http://host:port). */
  leaderHeader?: string;
  /** Give up on the leader after this long without an answer (default 30 s; never for event streams). */
  timeoutMs?: number;
  logger?: Logger;
}

/** The header a proxying instance adds; a request that already carries it is not proxied again. */
export const PROXIED_BY = "x-dcos-proxied-by";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"]);

function forwardHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export function installLeaderProxy(app: FastifyInstance, routing: LeaderRouting, options: LeaderProxyOptions = {}): void {
  const mode = options.mode ?? "proxy";
  app.addHook("onRequest", async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split("?")[0]!;
    const leader = routing.isLeader() ? routing.selfAddress() : routing.leaderAddress();
    if (options.leaderHeader && leader) void reply.header(options.leaderHeader, `http://${leader}`);
    if (routing.isLeader() || options.local?.(path, req.method)) return;
    if (!leader) {
      return reply.code(503).send({ message: "No leader: no instance holds the leader lease right now; retry shortly" });
    }
    if (req.headers[PROXIED_BY] !== undefined) {
      return reply.code(502).send({ message: `Not the leader, and the request was already proxied by ${String(req.headers[PROXIED_BY])}: leadership is changing; retry` });
    }
    if (mode === "redirect") {
      return reply.code(307).header("location", `${options.leaderScheme ?? "http"}://${leader}${req.url}`).send();
    }
    proxy(req, reply, leader, routing.selfAddress(), options);
    return reply;
  });
}

function proxy(req: FastifyRequest, reply: FastifyReply, leader: string, self: string, options: LeaderProxyOptions): void {
  void reply.hijack();
  const res = reply.raw;
  const colon = leader.lastIndexOf(":");
  const headers = forwardHeaders(req.headers);
  headers[PROXIED_BY] = self;
  headers["x-forwarded-for"] = req.ip;
  const fail = (status: number, message: string) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify({ message }));
  };
  const upstream = httpRequest(
    { host: leader.slice(0, colon), port: Number(leader.slice(colon + 1)), method: req.method, path: req.url, headers },
    (answer) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
      answer.on("error", () => res.destroy());
    },
  );
  const streaming = String(req.headers["accept"] ?? "").includes("text/event-stream");
  if (!streaming) {
    upstream.setTimeout(options.timeoutMs ?? 30_000, () => {
      upstream.destroy();
      fail(504, `The leader ${leader} did not answer in time`);
    });
  }
  upstream.on("error", (err) => {
    options.logger?.debug({ err: err.message, leader }, "Proxying to the leader failed");
    fail(502, `Cannot reach the leader ${leader}: ${err.message}`);
  });
  res.on("close", () => upstream.destroy());
  req.raw.pipe(upstream);
}
