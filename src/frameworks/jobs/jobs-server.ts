/**
 * One jobs instance: the framework kit's runner (lease, fenced ledger, scheduler driver),
 * the engine while it leads, and Chronos's HTTP API on fastify. Every instance answers
 * /leader, /ping and /metrics itself; the rest is answered by the leader (proxied there
 * by the others). The leader advertises its API as the framework's webui_url, which the
 * master's web UI uses for its jobs page (the API answers it cross-origin).
 */
import type { FastifyInstance } from "fastify";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import { Metrics } from "../../metrics/metrics.js";
import { ReplicatedLogClient } from "../../raft/log-client.js";
import { SystemClock, type Clock } from "../../runtime/clock.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { createFrameworkHttp, listenAdvertised, otherLeaderAddress, type FrameworkServerOptions } from "../common/framework-http.js";
import { FrameworkRunner } from "../common/framework-runner.js";
import { installLeaderProxy } from "../common/leader-proxy.js";
import { DriverCluster, jobTaskStatus } from "./driver-cluster.js";
import { JobsEngine } from "./engine.js";
import { installJobsApi } from "./jobs-api.js";
import type { JobsLedger } from "./ledger.js";
import { jobsMachine, storeLedgerLog, type JobsOp } from "./ledger-store.js";
import { Random } from "../../runtime/random.js";

export const DEFAULT_JOBS_PORT = 4400;

/** Framework name default "chronos" (so tooling recognises it), principal "dcos-jobs". */
export type JobsServerOptions = FrameworkServerOptions;

export class JobsServer {
  readonly app: FastifyInstance;
  readonly id: string;
  readonly metrics: Metrics;
  private runnerInstance: FrameworkRunner<JobsLedger, JobsOp> | undefined;
  private engineInstance: JobsEngine | undefined;
  private listening = "";
  private readonly clock: Clock;
  private readonly log: Logger;
  private ownedClient: ReplicatedLogClient | undefined;

  private constructor(private readonly options: JobsServerOptions) {
    this.id = `jobs-${(options.random ?? Random.fromOs()).uuid()}`;
    this.clock = options.clock ?? new SystemClock();
    this.log = (options.logger ?? silentLogger()).child({ component: "jobs" });
    this.metrics = options.metrics ?? new Metrics();
    // JSON errors, CORS for the master's web UI, authenticated as the masters' HTTP endpoints are (before proxying).
    this.app = createFrameworkHttp({ name: "Jobs", bodyLimit: 1024 * 1024, log: this.log, metrics: this.metrics, security: options.security, corsMethods: "GET, POST, PUT, DELETE" }).app;
    const local = (path: string) => path === "/leader" || path === "/ping" || path === "/metrics";
    installLeaderProxy(
      this.app,
      {
        isLeader: () => this.leading,
        leaderAddress: () => otherLeaderAddress(this.runnerInstance?.leader, this.id),
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
    s.listening = await listenAdvertised(s.app, options.host, options.httpPort, options.advertise);
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
