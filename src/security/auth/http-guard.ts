/**
 * The door of a node's HTTP endpoint (master and agent: state, metrics, files, UI API):
 * every request but /health is authenticated from its Authorization header (Basic or
 * Bearer; browsers send Basic after the 401's WWW-Authenticate) and then checked against
 * the ACL its path falls under. Refusals are JSON: 401 `{error: "UNAUTHENTICATED", …}`,
 * 403 `{error: "PERMISSION_DENIED", message}`.
 */
import type { AuthContext } from "@grpc/grpc-js/build/src/auth-context.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { TLSSocket } from "node:tls";
import type { Metrics } from "../../metrics/metrics.js";
import { asDcosError, Code } from "../../runtime/error.js";
import { EVERY, type AclAction, type AclObject } from "./acls.js";
import { ANONYMOUS, type Caller } from "./caller.js";
import type { ServiceSecurity } from "./service-security.js";

/** Paths anyone may reach (a load balancer's health check). */
const OPEN = new Set(["/health"]);

/**
 * The ACL a path needs, or none. /state, /state-summary, /frameworks, /tasks and /events
 * are filtered per caller by their handlers (view_frameworks, view_tasks, view_executors),
 * /files/* and /ui/sandbox/* checked per sandbox (access_sandboxes on the framework's
 * user), /teardown per framework (teardown_frameworks); what aggregates every framework
 * (the UI's resources and recent events) needs view_frameworks on every user.
 */
export function httpAcl(path: string): { action: AclAction; object: AclObject; what: string } | undefined {
  if (path.startsWith("/ui/resources") || path === "/ui/events/recent") {
    return { action: "view_frameworks", object: EVERY, what: `read ${path}` };
  }
  if (path === "/metrics" || path === "/metrics/snapshot" || path === "/flags" || path === "/quota") return { action: "get_endpoints", object: path, what: `read ${path}` };
  if (path === "/maintenance/schedule") return { action: "get_maintenance_schedules", object: EVERY, what: "read the maintenance schedule" };
  if (path === "/maintenance/status") return { action: "get_maintenance_statuses", object: EVERY, what: "read the maintenance status" };
  return undefined;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** The caller a request authenticated as (anonymous when no guard ran). */
export function httpCallerOf(req: FastifyRequest): Caller {
  return callers.get(req) ?? ANONYMOUS;
}

function refuse(reply: FastifyReply, err: unknown): FastifyReply {
  const e = asDcosError(err);
  const status = e.code === Code.UNAUTHENTICATED ? 401 : e.code === Code.PERMISSION_DENIED ? 403 : 400;
  if (status === 401) reply.header("www-authenticate", 'Basic realm="dcos-node", charset="UTF-8"');
  return reply.code(status).type("application/json").send({ error: Code[e.code], message: e.message });
}

/** The verified client certificate of an HTTPS request (as gRPC's AuthContext has it), if any. */
function peerOf(req: FastifyRequest): AuthContext | undefined {
  const socket = req.raw.socket as Partial<TLSSocket>;
  return socket.authorized === true && socket.getPeerCertificate ? { sslPeerCertificate: socket.getPeerCertificate() } : undefined;
}

export function addHttpGuard(app: FastifyInstance, security: ServiceSecurity, metrics?: Metrics): void {
  const failed = metrics?.counter("authentication/failed");
  app.addHook("onRequest", async (req, reply) => {
    const path = req.url.split("?")[0]!;
    if (OPEN.has(path)) return;
    let caller: Caller;
    try {
      caller = security.authenticator.authenticate(req.headers.authorization, peerOf(req));
    } catch (err) {
      failed?.inc();
      return refuse(reply, err);
    }
    callers.set(req, caller);
    const acl = httpAcl(path);
    if (!acl) return;
    try {
      security.authorizer.check(caller, acl.action, acl.object, acl.what);
    } catch (err) {
      return refuse(reply, err);
    }
  });
}
