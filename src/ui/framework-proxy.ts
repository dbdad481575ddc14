/**
 * `/service/<framework name>/<path>` on the master: the API of a framework that advertises
 * one (FrameworkInfo.webui_url), under the master's own origin — DC/OS's Admin Router
 * path. The web UI calls the jobs (Chronos) API here, so the browser sends the Basic
 * credentials it gave the master with those calls too: a cross-origin call to the
 * framework's own address would carry none, and a framework API that requires
 * authentication would refuse it.
 *
 * The master forwards the method, the path after the name, the query, a JSON or text body
 * (at most 1 MiB) and the caller's `Authorization`, `Accept` and `Content-Type`; the
 * framework authenticates and authorizes the caller itself (give it the masters'
 * `--credentials`). It answers with the framework's status, content type and body.
 * Only connected frameworks are reached, by the name they registered with; only http(s)
 * URLs. A framework that does not answer within 10 s is 504; none by that name is 404.
 *
 * Which frameworks: only those the operator lists (master flag `--service-proxy`, pairs
 * `name=principal`, default the platform's own: `chronos=dcos-jobs,marathon=marathon`), and
 * only when the connected framework of that name registered with that principal. Any
 * framework may advertise any URL, so without the list a framework registered as
 * "chronos" by another principal would receive the operators' credentials, and the master
 * would fetch whatever URL it names. With framework authentication on, the principal is
 * the one the framework proved.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { sendError } from "../runtime/http-errors.js";
import { Code, DcosError } from "../runtime/error.js";
import { DEFAULT_SERVICE_PROXY, parseServiceProxy } from "./service-proxy-flag.js";

export interface FrameworkProxyOptions {
  master: MasterFacade;
  /** Framework name → the principal it must have registered with (`--service-proxy`). */
  allowed?: ReadonlyMap<string, string>;
  timeoutMs?: number;
}

const FORWARDED_HEADERS = ["authorization", "accept", "content-type"] as const;
const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"] as const;
const MAX_BODY_BYTES = 1024 * 1024;

/** The API base (no trailing slash) of the connected framework registered as `name` by `principal`. */
async function frameworkApi(master: MasterFacade, name: string, allowed: ReadonlyMap<string, string>): Promise<string> {
  const principal = allowed.get(name);
  if (principal === undefined) {
    throw new DcosError(Code.NOT_FOUND, `The master does not serve the API of a framework named '${name}' (its --service-proxy lists ${[...allowed.keys()].join(", ") || "none"})`);
  }
  const urls = await master.inspect((core) =>
    [...core.frameworks.values()]
      .filter((f) => f.info.name === name && f.info.principal === principal && f.connected && f.info.webuiUrl !== "")
      .map((f) => f.info.webuiUrl),
  );
  if (urls.length === 0) throw new DcosError(Code.NOT_FOUND, `No connected framework named '${name}' with principal '${principal}' advertises an API (webui_url)`);
  const url = urls[0]!.replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(url)) throw new DcosError(Code.FAILED_PRECONDITION, `Framework '${name}' advertises '${url}', not an http(s) URL`);
  return url;
}

function bodyOf(req: FastifyRequest): string | undefined {
  if (req.method === "GET" || req.method === "HEAD" || req.body === undefined || req.body === null) return undefined;
  return typeof req.body === "string" ? req.body : JSON.stringify(req.body);
}

export function addFrameworkProxy(app: FastifyInstance, o: FrameworkProxyOptions): void {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const allowed = o.allowed ?? parseServiceProxy(DEFAULT_SERVICE_PROXY);
  app.route({
    method: [...METHODS],
    url: "/service/:name/*",
    bodyLimit: MAX_BODY_BYTES,
    handler: async (req, reply) => {
      try {
        const { name } = req.params as { name: string };
        const base = await frameworkApi(o.master, name, allowed);
        const prefix = `/service/${encodeURIComponent(name)}`;
        const rest = req.url.startsWith(prefix) ? req.url.slice(prefix.length) : `/${(req.params as { "*": string })["*"]}`;
        const headers: Record<string, string> = {};
        for (const h of FORWARDED_HEADERS) {
          const v = req.headers[h];
          if (typeof v === "string") headers[h] = v;
        }
        let response: Response;
        try {
          const body = bodyOf(req);
          response = await fetch(`${base}${rest || "/"}`, { method: req.method, headers, signal: AbortSignal.timeout(timeoutMs), ...(body !== undefined ? { body } : {}) });
        } catch (err) {
          const timedOut = (err as Error).name === "TimeoutError";
          throw new DcosError(timedOut ? Code.DEADLINE_EXCEEDED : Code.UNAVAILABLE, `Framework '${name}' at ${base} did not answer ${req.method} ${rest}: ${(err as Error).message}`, { cause: err });
        }
        const text = await response.text();
        const type = response.headers.get("content-type");
        if (type) reply.type(type);
        const challenge = response.headers.get("www-authenticate");
        if (challenge) reply.header("www-authenticate", challenge);
        return reply.code(response.status).send(text);
      } catch (err) {
        return sendError(reply, err);
      }
    },
  });
}
