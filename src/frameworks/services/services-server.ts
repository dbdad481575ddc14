/**
 * One services instance: the framework runner (lease, fenced state, scheduler driver),
 * the leader session (ServicesScheduler) while it leads, and the HTTP API on fastify.
 * Every instance serves /ping, /v2/info, /v2/leader (GET) and /metrics itself; everything
 * else is answered by the leader (proxied there by non-leaders).
 */
import type { FastifyInstance } from "fastify";
import { FrameworkInfo_Capability } from "../../gen/dcos/v1/cluster_pb.js";
import { Metrics } from "../../metrics/metrics.js";
import { SystemClock, type Clock } from "../../runtime/clock.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { EventStream } from "../common/event-stream.js";
import { FrameworkRunner } from "../common/framework-runner.js";
import { installLeaderProxy } from "../common/leader-proxy.js";
import { createFrameworkHttp, listenAdvertised, otherLeaderAddress, type FrameworkServerOptions } from "../common/framework-http.js";
import { appEventFilter, installAppAcls } from "./app-acls.js";
import { installServicesApi } from "./services-api.js";
import { ServicesScheduler } from "./services-scheduler.js";
import type { ServicePortRange } from "./service-ports.js";
import { servicesMachine, type ServicesOp, type ServicesState } from "./services-state.js";
import { Random } from "../../runtime/random.js";

/** Framework name and principal default "marathon" (Marathon's, so existing tooling recognises it). */
export interface ServicesOptions extends FrameworkServerOptions {
  /** Framework failover timeout (default one week). */
  failoverTimeoutSeconds?: number;
  version?: string;
  /** Non-leaders answer 307 instead of proxying. */
  redirect?: boolean;
  tickMs?: number;
  /** Where service ports are assigned from (default 10000..19999; service-ports.ts). */
  servicePortRange?: ServicePortRange;
}

/** The FrameworkInfo label that marks the services framework (the web UI finds its API by it, at webui_url). */
export const SERVICES_LABEL = "DCOS_NODE_FRAMEWORK";

export class ServicesServer {
  readonly app: FastifyInstance;
  private runnerInstance: FrameworkRunner<ServicesState, ServicesOp> | undefined;
  private readonly clock: Clock;
  private readonly publish: (type: string, data: Record<string, unknown>) => void;
  readonly events: EventStream;
  readonly metrics: Metrics;
  private session: ServicesScheduler | undefined;
  private listening = "";
  private readonly log: Logger;
  readonly id: string;
  /** Ids this instance draws: its own, and (as the scheduler) deployment and instance ids. */
  private readonly random: Random;

  private constructor(private readonly options: ServicesOptions) {
    const clock = (this.clock = options.clock ?? new SystemClock());
    this.log = (options.logger ?? silentLogger()).child({ component: "services" });
    this.metrics = options.metrics ?? new Metrics();
    this.events = new EventStream({ clock, metrics: this.metrics, metricPrefix: "services/events" });
    this.random = options.random ?? Random.fromOs();
    this.id = `services-${this.random.uuid()}`;
    const role = options.role ?? "*";
    this.publish = (type, data) => this.events.publish(type, { ...data, eventType: type, timestamp: new Date(clock.now()).toISOString() });
    // JSON errors, CORS for the master's web UI, authenticated (and /metrics checked against get_endpoints) like the masters' HTTP endpoints.
    const http = createFrameworkHttp({ name: "Services", bodyLimit: 2 * 1024 * 1024, log: this.log, metrics: this.metrics, security: options.security, corsMethods: "GET, POST, PUT, PATCH, DELETE" });
    this.app = http.app;
    const security = http.security;
    // Per-app ACLs (view/create/update/delete_apps by app id prefix): checked before handlers, lists filtered.
    const authorizer = security.authorizer;
    installAppAcls(this.app, { authorizer, scheduler: () => (this.leading ? this.session : undefined) });
    const local = (path: string, method: string) =>
      path === "/ping" || path === "/v2/info" || path === "/metrics" || (path === "/v2/leader" && method === "GET") || path.startsWith("/ui");
    installLeaderProxy(
      this.app,
      {
        isLeader: () => this.leading,
        leaderAddress: () => otherLeaderAddress(this.runnerInstance?.leader, this.id),
        selfAddress: () => this.address,
      },
      { mode: options.redirect ? "redirect" : "proxy", local, leaderHeader: "X-Marathon-Leader", logger: this.log },
    );
    this.installLocalRoutes();
    installServicesApi(this.app, {
      scheduler: () => (this.leading ? this.session : undefined),
      events: this.events,
      role,
      eventFilter: (req) => appEventFilter(req, authorizer),
    });
  }

  static async start(options: ServicesOptions): Promise<ServicesServer> {
    const s = new ServicesServer(options);
    s.listening = await listenAdvertised(s.app, options.host, options.httpPort, options.advertise);
    s.runnerInstance = s.createRunner(s.listening);
    s.runnerInstance.start();
    s.log.info({ address: s.listening, id: s.id }, `Services API on http://${s.listening}`);
    return s;
  }

  get runner(): FrameworkRunner<ServicesState, ServicesOp> {
    if (!this.runnerInstance) throw new Error("ServicesServer is not started");
    return this.runnerInstance;
  }

  private createRunner(address: string): FrameworkRunner<ServicesState, ServicesOp> {
    const options = this.options;
    const role = options.role ?? "*";
    return new FrameworkRunner<ServicesState, ServicesOp>({
      name: "services",
      masters: options.masters,
      principal: options.principal ?? options.credential?.principal ?? "marathon",
      framework: {
        name: options.frameworkName ?? "marathon",
        roles: [role],
        failoverTimeout: options.failoverTimeoutSeconds ?? 7 * 24 * 3600,
        user: "",
        // Executors report TASK_KILLING when a kill starts (the grace period), as to Marathon;
        // an instance the master kills (a drain) is replaced during that grace period.
        capabilities: [FrameworkInfo_Capability.TASK_KILLING_STATE],
        webuiUrl: `http://${address}`,
        labels: { labels: [{ key: SERVICES_LABEL, value: "services" }] },
      },
      self: { id: this.id, address },
      clock: this.clock,
      logger: options.logger,
      machine: servicesMachine,
      store: options.store,
      leaseTtlMs: options.leaseTtlMs,
      driver: options.driver,
      credential: options.credential,
      lead: (ctx) => {
        const s = new ServicesScheduler(ctx, {
          clock: this.clock,
          publish: this.publish,
          role,
          principal: options.principal ?? options.credential?.principal ?? "marathon",
          metrics: this.metrics,
          tickMs: options.tickMs,
          servicePortRange: options.servicePortRange,
          random: this.random,
        });
        const ready = s.ready.bind(s);
        this.session = s;
        return {
          callbacks: s.callbacks,
          ready: () => ready(),
          stop: (reason) => {
            s.stop(reason);
            if (this.session === s) this.session = undefined;
            // Clients attached here hear nothing more from this session: end their streams so
            // they connect again (to the next leader, through the proxy) and read the state
            // afresh. Left open, a load balancer would wait for events forever.
            this.events.close();
          },
        };
      },
    });
  }

  /** host:port of the HTTP API. */
  get address(): string {
    return this.listening;
  }

  get leading(): boolean {
    return this.runnerInstance?.isLeader === true && this.session !== undefined;
  }

  get scheduler(): ServicesScheduler | undefined {
    return this.leading ? this.session : undefined;
  }

  async stop(): Promise<void> {
    this.events.close();
    await this.runnerInstance?.stop();
    await this.app.close();
  }

  private installLocalRoutes(): void {
    this.app.get("/ping", async (_req, reply) => reply.type("text/plain").send("pong"));
    this.app.get("/v2/leader", async (_req, reply) => {
      const l = this.leading ? this.address : this.runner.leader?.address;
      return l ? { leader: l } : reply.code(404).send({ message: "There is no leader" });
    });
    this.app.delete("/v2/leader", async (_req, reply) => {
      await this.runner.abdicate();
      return reply.send({ message: "Leadership abdicated" });
    });
    this.app.get("/v2/info", async () => ({
      name: "dcos-node services",
      version: this.options.version ?? "dev",
      elected: this.leading,
      leader: this.leading ? this.address : (this.runner.leader?.address ?? null),
      frameworkId: this.runner.driver?.frameworkId ?? null,
      marathon_config: {
        master: this.options.masters.join(","),
        framework_name: this.options.frameworkName ?? "marathon",
        mesos_role: this.options.role ?? "*",
        failover_timeout: this.options.failoverTimeoutSeconds ?? 7 * 24 * 3600,
        leader_proxy: !this.options.redirect,
      },
      http_config: { http_port: Number(this.address.split(":").pop()) },
      event_subscriber: { type: "sse" },
      leader_lease: { ttl_ms: this.options.leaseTtlMs ?? 10_000, holder: this.runner.leader?.id ?? null },
    }));
    this.app.get("/metrics", async () => {
      const s = this.session;
      const gauges: Record<string, number> = {
        "services/elected": this.leading ? 1 : 0,
        "services/apps": s?.state.apps.size ?? 0,
        "services/instances": s?.state.instances.size ?? 0,
        "services/deployments": s?.state.deployments.size ?? 0,
        "services/event_stream_clients": this.events.size,
      };
      return { ...this.metrics.snapshot(), ...gauges };
    });
  }
}
