/**
 * One jobs instance: the framework kit's runner (lease, fenced ledger, scheduler driver),
 * the engine while it leads, and Chronos's HTTP API on fastify. Every instance answers
 * /leader, /ping and /metrics itself; the rest is answered by the leader (proxied there
 * by the others). The leader advertises its API as the framework's webui_url, which the
 * master's web UI uses for its jobs page (the API answers it cross-origin).
 */
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance } from "fastify";
import type { SchedulerDriverOptions } from "../../actors/scheduler-driver/options.js";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import { Metrics } from "../../metrics/metrics.js";
import { ReplicatedLogClient } from "../../raft/log-client.js";
import { SystemClock, type Clock } from "../../runtime/clock.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import type { ClientCredential } from "../../security/auth/client-credential.js";
import { addHttpGuard } from "../../security/auth/http-guard.js";
import { serviceSecurity, type SecurityConfig } from "../../security/auth/security-config.js";
import { FrameworkRunner } from "../common/framework-runner.js";
import { installLeaderProxy } from "../common/leader-proxy.js";
import type { LogStore } from "../common/log-store.js";
import { DriverCluster, jobTaskStatus } from "./driver-cluster.js";
import { JobsEngine } from "./engine.js";
import { installJobsApi } from "./jobs-api.js";
import type { JobsLedger } from "./ledger.js";
import { jobsMachine, storeLedgerLog, type JobsOp } from "./ledger-store.js";

export const DEFAULT_JOBS_PORT = 4400;

export interface JobsServerOptions {
  masters: readonly string[];
  host?: string;
  /** 0: any free port. */
  httpPort: number;
  /** host:port others reach this instance at (default: the address listened on). */
  advertise?: string;
  /** Framework name (default "chronos", so tooling recognises it) and principal (default "dcos-jobs"). */
  frameworkName?: string;
  principal?: string;
  role?: string;
  credential?: ClientCredential;
  /** Who may call the API: credentials, ACLs, whether anonymous callers are refused (as masters take them). */
  security?: SecurityConfig;
  leaseTtlMs?: number;
  clock?: Clock;
  logger?: Logger;
  metrics?: Metrics;
  /** Tests: a LogStore instead of the masters' ReplicatedLogService. */
  store?: LogStore;
  driver?: Partial<SchedulerDriverOptions>;
}

export class JobsServer {
  readonly app: FastifyInstance;
  readonly id = `jobs-${randomUUID()}`;
  readonly metrics: Metrics;
  private runnerInstance: FrameworkRunner<JobsLedger, JobsOp> | undefined;
  private engineInstance: JobsEngine | undefined;
  private listening = "";
  private readonly clock: Clock;
  private readonly log: Logger;
  private ownedClient: ReplicatedLogClient | undefined;

  private constructor(private readonly options: JobsServerOptions) {
    this.clock = options.clock ?? new SystemClock();
    this.log = (options.logger ?? silentLogger()).child({ component: "jobs" });
    this.metrics = options.metrics ?? new Metrics();
    this.app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
    this.app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) this.log.warn({ err }, "Jobs HTTP handler failed");
      return reply.code(status).send({ message: err.message });
    });
    this.app.setNotFoundHandler((req, reply) => reply.code(404).send({ message: `No endpoint ${req.method} ${req.url.split("?")[0]}` }));
    // The master's web UI calls this API from another origin.
    this.app.addHook("onSend", async (_req, reply, payload) => {
      reply.header("access-control-allow-origin", "*");
      return payload;
    });
    // CORS preflights carry no credentials: answered before authentication.
    this.app.addHook("onRequest", async (req, reply) => {
      if (req.method !== "OPTIONS") return;
      return reply
        .code(204)
        .header("access-control-allow-origin", "*")
        .header("access-control-allow-methods", "GET, POST, PUT, DELETE")
        .header("access-control-allow-headers", "content-type, authorization")
        .header("access-control-max-age", "600")
        .send();
    });
    // Authenticated as the masters' HTTP endpoints are (Basic or Bearer; 401/403 JSON), before proxying.
    addHttpGuard(this.app, serviceSecurity(options.security ?? {}, this.metrics), this.metrics);
    const local = (path: string) => path === "/leader" || path === "/ping" || path === "/metrics";
    installLeaderProxy(
      this.app,
      {
        isLeader: () => this.leading,
        leaderAddress: () => {
          const l = this.runnerInstance?.leader;
          return l && l.id !== this.id && l.address ? l.address : undefined;
        },
        selfAddress: () => this.listening,
      },
      { mode: "proxy", local, leaderHeader: "X-Chronos-Leader", logger: this.log },
    );
    this.app.get("/ping", async (_req, reply) => reply.type("text/plain").send("pong"));
    this.app.get("/leader", async (_req, reply) => {
      const l = this.leading ? this.listening : this.runnerInstance?.leader?.address;
      return l ? { leader: l } : reply.code(404).send({ message: "There is no jobs leader" });
    });
    this.app.get("/metrics", async () => {
      const e = this.engine;
      return {
        "jobs/elected": e ? 1 : 0,
        "jobs/jobs": e?.ledger.jobs.size ?? 0,
        "jobs/tasks_out": e?.ledger.tasks.size ?? 0,
        "jobs/ledger_records": e?.ledger.applied ?? 0,
        "jobs/ledger_write_failures": e?.appendFailures ?? 0,
        "jobs/passes": e?.passes ?? 0,
      };
    });
    installJobsApi(this.app, { engine: () => this.engine, clock: this.clock });
  }

  static async start(options: JobsServerOptions): Promise<JobsServer> {
    const s = new JobsServer(options);
    await s.app.listen({ host: options.host ?? "127.0.0.1", port: options.httpPort });
    const a = s.app.server.address();
    const port = a && typeof a === "object" ? a.port : options.httpPort;
    const host = options.host && options.host !== "0.0.0.0" ? options.host : "127.0.0.1";
    s.listening = options.advertise ?? `${host}:${port}`;
    s.runnerInstance = s.createRunner();
    s.runnerInstance.start();
    s.log.info({ address: s.listening, id: s.id }, `Jobs API (Chronos) on http://${s.listening}`);
    return s;
  }

  /** host:port of the HTTP API. */
  get address(): string {
    return this.listening;
  }

  /** The engine while this instance leads and has resumed from the ledger. */
  get engine(): JobsEngine | undefined {
    return this.runnerInstance?.isLeader && this.engineInstance?.leading ? this.engineInstance : undefined;
  }

  get leading(): boolean {
    return this.engine !== undefined;
  }

  get runner(): FrameworkRunner<JobsLedger, JobsOp> | undefined {
    return this.runnerInstance;
  }

  async stop(): Promise<void> {
    await this.runnerInstance?.stop();
    this.ownedClient?.close();
    await this.app.close();
  }

  private createRunner(): FrameworkRunner<JobsLedger, JobsOp> {
    const o = this.options;
    const principal = o.principal ?? "dcos-jobs";
    const role = o.role ?? "*";
    let store = o.store;
    if (!store) {
      this.ownedClient = new ReplicatedLogClient({ masters: o.masters, principal, ...(o.credential ? { credential: o.credential } : {}) });
      store = this.ownedClient;
    }
    return new FrameworkRunner<JobsLedger, JobsOp>({
      name: "jobs",
      masters: o.masters,
      principal,
      framework: {
        name: o.frameworkName ?? "chronos",
        roles: [role],
        failoverTimeout: 7 * 24 * 3600,
        user: "",
        webuiUrl: `http://${this.listening}`,
        capabilities: [FrameworkInfo_Capability.PARTITION_AWARE],
      },
      self: { id: this.id, address: this.listening },
      clock: this.clock,
      ...(o.logger ? { logger: o.logger } : {}),
      machine: jobsMachine,
      store,
      // A snapshot is one op per job: with thousands of jobs, take one per 10,000 records, not 2,000.
      snapshotEvery: 10_000,
      ...(o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {}),
      driver: { implicitAcknowledgements: false, ...(o.credential ? { credential: o.credential } : {}), ...o.driver },
      lead: (ctx) => {
        const cluster = new DriverCluster(ctx.driver, role, ctx.logger);
        const engine = new JobsEngine({ log: storeLedgerLog(ctx.store), cluster, clock: this.clock, logger: ctx.logger });
        this.engineInstance = engine;
        return {
          callbacks: {
            subscribed: () => engine.subscribed(),
            offers: (offers) => engine.addOffers(cluster.received(offers)),
            rescind: (id) => {
              cluster.rescinded(id);
              engine.rescind(id);
            },
            update: (status) => {
              const ack = status.uuid.length > 0 ? () => void ctx.driver.acknowledge(status).catch(() => undefined) : undefined;
              const s = jobTaskStatus(status, ack);
              if (s) engine.status(s);
              else ack?.();
            },
          },
          ready: () => {
            engine.start().catch((err: Error) => {
              ctx.logger.warn({ err: err.message }, "The jobs engine could not resume from the ledger; giving the lease up");
              void this.runnerInstance?.abdicate().catch(() => undefined);
            });
          },
          stop: () => {
            engine.stop();
            if (this.engineInstance === engine) this.engineInstance = undefined;
          },
        };
      },
    });
  }
}
