/**
 * The HTTP side every first-party framework instance shares (jobs, services): a fastify
 * app whose errors are JSON `{message}` (4xx as fastify reports them, 500 logged), a 404
 * that names the endpoint, CORS for the master's web UI (another origin; preflights are
 * answered before authentication, as they carry no credentials), then the masters'
 * authentication and ACL guard; and listening at an address other instances reach.
 */
import Fastify, { type FastifyInstance } from "fastify";
import type { SchedulerDriverOptions } from "../../actors/scheduler-driver/options.js";
import type { Metrics } from "../../metrics/metrics.js";
import type { Clock } from "../../runtime/clock.js";
import type { Logger } from "../../runtime/log.js";
import type { ClientCredential } from "../../security/auth/client-credential.js";
import { addHttpGuard } from "../../security/auth/http-guard.js";
import { serviceSecurity, type SecurityConfig } from "../../security/auth/security-config.js";
import type { ServiceSecurity } from "../../security/auth/service-security.js";
import type { LeaseHolder } from "./leader-lease.js";
import type { LogStore } from "./log-store.js";
import type { Random } from "../../runtime/random.js";

/** The options every framework instance (jobs, services) takes; each adds its own. */
export interface FrameworkServerOptions {
  /** Masters' gRPC host:port. */
  masters: readonly string[];
  /** HTTP listen host (default 127.0.0.1) and port (0: any free port). */
  host?: string;
  httpPort: number;
  /** The address others reach this instance's HTTP API at (default host:port listened on). */
  advertise?: string;
  /** Framework name and principal (each framework has its defaults). */
  frameworkName?: string;
  principal?: string;
  role?: string;
  /** Authenticate to the masters as this principal (docs/security.md). */
  credential?: ClientCredential;
  /** Who may call this instance's HTTP API (credentials, ACLs; docs/security.md); default: anyone. */
  security?: SecurityConfig;
  leaseTtlMs?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
  /** Tests: a LogStore instead of the masters' ReplicatedLogService. */
  store?: LogStore;
  driver?: Partial<SchedulerDriverOptions>;
  /** The instance's seeded source of ids (its own id; services: deployment and instance ids); default one seeded from the OS per process. */
  random?: Random;
}

export interface FrameworkHttpOptions {
  /** What the API is, in the log line of a failed handler ("Jobs", "Services"). */
  name: string;
  bodyLimit: number;
  log: Logger;
  metrics: Metrics;
  /** Who may call the API (default: anyone). */
  security?: SecurityConfig;
  /** The methods the web UI may call across origins ("GET, POST, PUT, DELETE"). */
  corsMethods: string;
  /**
   * Serve HTTPS with this certificate; a client certificate the CA verifies is asked for
   * (not required) and authenticates its principal (security.peerIdentity). Default: HTTP.
   */
  https?: { cert: string; key: string; ca: string };
}

export function createFrameworkHttp(o: FrameworkHttpOptions): { app: FastifyInstance; security: ServiceSecurity } {
  const app = (
    o.https
      ? Fastify({ logger: false, bodyLimit: o.bodyLimit, https: { ...o.https, requestCert: true, rejectUnauthorized: false } })
      : Fastify({ logger: false, bodyLimit: o.bodyLimit })
  ) as unknown as FastifyInstance;
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) o.log.warn({ err }, `${o.name} HTTP handler failed`);
    return reply.code(status).send({ message: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ message: `No endpoint ${req.method} ${req.url.split("?")[0]}` }));
  app.addHook("onRequest", async (req, reply) => {
    void reply.header("access-control-allow-origin", "*");
    if (req.method !== "OPTIONS") return;
    return reply
      .code(204)
      .header("access-control-allow-methods", o.corsMethods)
      .header("access-control-allow-headers", "content-type, authorization")
      .header("access-control-max-age", "600")
      .send();
  });
  const security = serviceSecurity(o.security ?? {}, o.metrics);
  addHttpGuard(app, security, o.metrics);
  return { app, security };
}

/**
 * Listens on host:port (port 0: any free one) and returns the address other instances
 * and the web UI reach the API at: `advertise`, else the host (127.0.0.1 for 0.0.0.0) and
 * the port listened on.
 */
export async function listenAdvertised(app: FastifyInstance, host: string | undefined, port: number, advertise: string | undefined): Promise<string> {
  await app.listen({ host: host ?? "127.0.0.1", port });
  const a = app.server.address();
  const actual = a && typeof a === "object" ? a.port : port;
  return advertise ?? `${host && host !== "0.0.0.0" ? host : "127.0.0.1"}:${actual}`;
}

/** The leader's API address for the leader proxy: undefined when this instance leads or no leader is known. */
export function otherLeaderAddress(leader: LeaseHolder | undefined, selfId: string): string | undefined {
  return leader && leader.id !== selfId && leader.address ? leader.address : undefined;
}
