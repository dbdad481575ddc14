/**
 * The run service: a long-lived platform framework (like jobs and services, on the
 * framework kit: leader lease and framework id on the masters' replicated log) that runs
 * the one-off tasks `dcos-node run` asks for over HTTP(S), so the CLI is a thin HTTP client
 * and a run pays no subscription of its own (run-scheduler.ts for the offers).
 *
 *   POST /v1/runs             {command, name, cpus, mem, disk?, role?, user, env?, timeoutSeconds?, output?}
 *                             → 200 application/x-ndjson: one RunEvent per line, ending with {"event":"end","exit":N}
 *   POST /v1/runs/{taskId}/kill → 202 (the stream of that run ends with exit 130)
 *   GET  /ping, /leader, /metrics
 *
 * Authenticated as the masters' HTTP endpoints are (Authorization header, or a client
 * certificate over HTTPS); a run needs the ACLs `run_tasks` on its user and
 * `register_frameworks` on its role, as running the one-off framework would; only the
 * principal that started a run may kill it. Bad input is a 4xx `{message}` (the body is
 * limited to 64 KiB). Runs in progress are capped in total and per principal (maxRuns,
 * maxRunsPerPrincipal): one over a cap is refused with 429, Retry-After and `{message}`.
 * Non-leading instances answer 307 to the leader.
 */
import type { FastifyInstance } from "fastify";
import { createServer, type Server, type ServerResponse } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { Metrics } from "../../metrics/metrics.js";
import { SystemClock, type Clock } from "../../runtime/clock.js";
import { asDcosError, Code } from "../../runtime/error.js";
import { silentLogger, type Logger } from "../../runtime/log.js";
import { Random } from "../../runtime/random.js";
import { authorizationHeader, credentialChannelOptions } from "../../security/auth/client-credential.js";
import { describeCaller } from "../../security/auth/caller.js";
import { httpCallerOf } from "../../security/auth/http-guard.js";
import type { ServiceSecurity } from "../../security/auth/service-security.js";
import { certificatePrincipals } from "../../security/pki/grpc-credentials.js";
import { createFrameworkHttp, listenAdvertised, otherLeaderAddress, type FrameworkServerOptions } from "../common/framework-http.js";
import { FrameworkRunner } from "../common/framework-runner.js";
import { installLeaderProxy } from "../common/leader-proxy.js";
import { agentHttpAddress } from "../common/sandbox-output.js";
import type { StateMachine } from "../common/state-store.js";
import { parseRunRequest } from "./run-request.js";
import { RunScheduler, type RunEvent } from "./run-scheduler.js";

export interface RunServerOptions extends FrameworkServerOptions {
  /** Offers kept after the last run (default 10 s; run-scheduler.ts). */
  offerHoldMs?: number;
  /** Serve HTTPS with this certificate (the cluster CA verifies clients' certificates). */
  https?: { cert: string; key: string; ca: string };
  /**
   * With https: also serve plaintext HTTP on 127.0.0.1 (another port, the same API and
   * authentication), for clients on this machine, as a loopback dev master serves
   * plaintext gRPC clients: a TLS handshake costs a CLI 25-40 ms of CPU.
   */
  plaintextLoopback?: boolean;
  /** Runs in progress at once, all callers together (default DEFAULT_MAX_RUNS; 0: no limit). */
  maxRuns?: number;
  /** Runs in progress at once per principal (anonymous callers share one count; default DEFAULT_MAX_RUNS_PER_PRINCIPAL; 0: no limit). */
  maxRunsPerPrincipal?: number;
}

/** Default cap on runs in progress at once (each holds a connection, a task and an output reader). */
export const DEFAULT_MAX_RUNS = 500;
/** Default cap on one principal's runs in progress at once. */
export const DEFAULT_MAX_RUNS_PER_PRINCIPAL = 100;
/** Retry-After of a run refused for a cap: runs are short, a slot is usually free by then. */
const RETRY_AFTER_S = 5;

/** The body of POST /v1/runs is small: a command line and a few fields. */
const BODY_LIMIT = 64 * 1024;
/** A blank line this often keeps a quiet stream's connection alive and finds a client that is gone. */
const HEARTBEAT_MS = 15_000;
/** A client that leaves more than this unread (a task writing faster than it reads) is dropped, as one gone. */
export const MAX_UNREAD_BYTES = 8 * 1024 * 1024;

/** The service keeps no state of its own but the framework id (the kit keeps it). */
type Empty = Record<string, never>;
const noState: StateMachine<Empty, never> = { empty: () => ({}), apply: () => undefined, snapshot: () => [] };

export class RunServer {
  readonly app: FastifyInstance;
  readonly id: string;
  readonly metrics: Metrics;
  private readonly security: ServiceSecurity;
  private runnerInstance: FrameworkRunner<Empty, never> | undefined;
  private schedulerInstance: RunScheduler | undefined;
  private listening = "";
  private loopback: Server | undefined;
  private loopbackAddress: string | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly random: Random;
  private readonly roles: string[];
  private readonly agents = new Map<string, string>();
  private refusedForCap = 0;

  private constructor(private readonly options: RunServerOptions) {
    this.random = options.random ?? Random.fromOs();
    this.id = `run-${this.random.uuid()}`;
    this.clock = options.clock ?? new SystemClock();
    this.log = (options.logger ?? silentLogger()).child({ component: "run" });
    this.metrics = options.metrics ?? new Metrics();
    this.roles = [options.role ?? "*"];
    const security = options.https ? { ...options.security, peerIdentity: certificatePrincipals } : options.security;
    const http = createFrameworkHttp({
      name: "Run",
      bodyLimit: BODY_LIMIT,
      log: this.log,
      metrics: this.metrics,
      ...(security ? { security } : {}),
      corsMethods: "GET, POST",
      ...(options.https ? { https: options.https } : {}),
    });
    this.app = http.app;
    this.security = http.security;
    const local = (path: string) => path === "/leader" || path === "/ping" || path === "/metrics";
    installLeaderProxy(
      this.app,
      {
        isLeader: () => this.scheduler !== undefined,
        leaderAddress: () => otherLeaderAddress(this.runnerInstance?.leader, this.id),
        selfAddress: () => this.listening,
      },
      // A run's stream may last longer than any proxy timeout: the client goes to the leader itself.
      { mode: "redirect", local, logger: this.log, ...(options.https ? { leaderScheme: "https" as const } : {}) },
    );
    this.app.get("/ping", async (_req, reply) => reply.type("text/plain").send("pong"));
    this.app.get("/leader", async (_req, reply) => {
      const l = this.scheduler ? this.listening : this.runnerInstance?.leader?.address;
      return l ? { leader: l } : reply.code(404).send({ message: "There is no run service leader" });
    });
    this.app.get("/metrics", async () => {
      const s = this.scheduler;
      return {
        "run/elected": s ? 1 : 0,
        "run/active": s?.active ?? 0,
        "run/offers_held": s?.offersHeld ?? 0,
        "run/suppressed": s?.isSuppressed ? 1 : 0,
        "run/launched": s?.counters.launched ?? 0,
        "run/revives": s?.counters.revives ?? 0,
        "run/suppresses": s?.counters.suppresses ?? 0,
        "run/disconnects": s?.counters.disconnects ?? 0,
        "run/orphans_killed": s?.counters.orphansKilled ?? 0,
        "run/refused_over_limit": this.refusedForCap,
      };
    });
    this.app.post("/v1/runs", async (req, reply) => {
      const scheduler = this.scheduler;
      if (!scheduler) return reply.code(503).send({ message: "The run service is not subscribed to a master yet; try again" });
      let request;
      try {
        request = parseRunRequest(req.body);
      } catch (err) {
        return reply.code(400).send({ message: (err as Error).message });
      }
      if (!this.roles.includes(request.role)) {
        // `reason` tells dcos-node run to run a one-off framework of that role instead.
        return reply.code(400).send({ message: `The run service takes resources as role ${this.roles.join(", ")}, not '${request.role}' (dcos-node run --framework runs a framework of that role)`, reason: "ROLE_NOT_SERVED" });
      }
      const caller = httpCallerOf(req);
      try {
        this.security.authorizer.check(caller, "run_tasks", request.user, `run tasks as user '${request.user}'`);
        this.security.authorizer.check(caller, "register_frameworks", request.role, `run tasks as role '${request.role}'`);
      } catch (err) {
        const e = asDcosError(err);
        return reply.code(e.code === Code.PERMISSION_DENIED ? 403 : 400).send({ message: e.message });
      }
      const full = this.capReached(scheduler, caller.principal);
      if (full) {
        this.refusedForCap++;
        return reply.code(429).header("retry-after", String(RETRY_AFTER_S)).send({ message: `${full}; try again in ${RETRY_AFTER_S} s` });
      }
      reply.hijack();
      streamRun(reply.raw, (emit) => scheduler.submit(request, caller.principal, emit));
    });
    this.app.post<{ Params: { taskId: string } }>("/v1/runs/:taskId/kill", async (req, reply) => {
      const run = this.scheduler?.run(req.params.taskId);
      if (!run) return reply.code(404).send({ message: `No run ${req.params.taskId.slice(0, 300)} is in progress here` });
      const caller = httpCallerOf(req);
      if (caller.principal !== run.owner) {
        return reply.code(403).send({ message: `Not authorized: ${describeCaller(caller)} may not kill run ${run.taskId}, started by ${run.owner ? `principal '${run.owner}'` : "an unauthenticated caller"}` });
      }
      run.interrupt();
      return reply.code(202).send({ taskId: run.taskId });
    });
  }

  static async start(options: RunServerOptions): Promise<RunServer> {
    const s = new RunServer(options);
    s.listening = await listenAdvertised(s.app, options.host, options.httpPort, options.advertise);
    if (options.https && options.plaintextLoopback) {
      const loopback = createServer((req, res) => s.app.routing(req, res));
      s.loopback = loopback;
      await new Promise<void>((resolve, reject) => loopback.once("error", reject).listen(0, "127.0.0.1", resolve));
      const a = loopback.address();
      s.loopbackAddress = `127.0.0.1:${a && typeof a === "object" ? a.port : 0}`;
    }
    s.runnerInstance = s.createRunner();
    s.runnerInstance.start();
    s.log.info({ address: s.listening, id: s.id }, `Run service on ${s.url}`);
    return s;
  }

  /** host:port of the HTTP API. */
  get address(): string {
    return this.listening;
  }

  /** The API's URL (https when serving TLS). */
  get url(): string {
    return `${this.options.https ? "https" : "http"}://${this.listening}`;
  }

  /** The plaintext loopback URL (plaintextLoopback), if served. */
  get loopbackUrl(): string | undefined {
    return this.loopbackAddress ? `http://${this.loopbackAddress}` : undefined;
  }

  /** The scheduler while this instance leads and is subscribed. */
  get scheduler(): RunScheduler | undefined {
    return this.runnerInstance?.isLeader ? this.schedulerInstance : undefined;
  }

  /**
   * Resolves true once this instance leads and is subscribed (what a run needs), false after
   * timeoutMs: the dev cluster says "up" only then, so a `dcos-node run` right after it is
   * not refused with 503. Wall-clock polling: only a real process's start-up waits on it.
   */
  async serving(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.scheduler) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return true;
  }

  async stop(): Promise<void> {
    this.schedulerInstance?.stop("it is stopping");
    await this.runnerInstance?.stop();
    this.loopback?.closeAllConnections();
    await new Promise((resolve) => (this.loopback ? this.loopback.close(resolve) : resolve(undefined)));
    await this.app.close();
  }

  /** Why a new run of `principal` may not start now (a cap is reached), or undefined. */
  private capReached(scheduler: RunScheduler, principal: string | undefined): string | undefined {
    const total = this.options.maxRuns ?? DEFAULT_MAX_RUNS;
    if (total > 0 && scheduler.active >= total) return `The run service already has ${scheduler.active} runs in progress, its limit (--max-runs=${total})`;
    const mine = this.options.maxRunsPerPrincipal ?? DEFAULT_MAX_RUNS_PER_PRINCIPAL;
    const own = scheduler.activeOf(principal);
    if (mine > 0 && own >= mine) {
      return `${principal ? `Principal '${principal}'` : "Anonymous callers"} already ${principal ? "has" : "have"} ${own} runs in progress, the limit per principal (--max-runs-per-principal=${mine})`;
    }
    return undefined;
  }

  /** An agent's HTTP endpoint through the master's Operator API, remembered per agent. */
  private async agentHttp(agentId: string): Promise<string> {
    const known = this.agents.get(agentId);
    if (known) return known;
    const master = this.runnerInstance?.driver?.master ?? this.options.masters[0]!;
    const address = await agentHttpAddress(master, agentId, grpc.credentials.createInsecure(), credentialChannelOptions(this.options.credential));
    this.agents.set(agentId, address);
    return address;
  }

  private createRunner(): FrameworkRunner<Empty, never> {
    const o = this.options;
    const principal = o.principal ?? "dcos-run";
    return new FrameworkRunner<Empty, never>({
      name: "run",
      masters: o.masters,
      principal,
      framework: {
        name: o.frameworkName ?? "dcos-run",
        roles: this.roles,
        // A leader that never comes back: the master kills the runs' tasks after this.
        failoverTimeout: 300,
        user: "",
        webuiUrl: this.url,
      },
      self: { id: this.id, address: this.listening },
      clock: this.clock,
      ...(o.logger ? { logger: o.logger } : {}),
      machine: noState,
      ...(o.store ? { store: o.store } : {}),
      ...(o.credential ? { credential: o.credential } : {}),
      ...(o.leaseTtlMs !== undefined ? { leaseTtlMs: o.leaseTtlMs } : {}),
      // Subscribed suppressed: no offer is held until a run asks (revives).
      driver: { implicitAcknowledgements: false, suppressedRoles: this.roles, ...(o.credential ? { credential: o.credential } : {}), ...o.driver },
      lead: (ctx) => {
        let scheduler: RunScheduler | undefined;
        return {
          callbacks: {
            offers: (offers) => scheduler?.offers(offers),
            rescind: (id) => scheduler?.rescind(id),
            update: (status) => {
              if (scheduler) scheduler.update(status);
              else if (status.uuid.length > 0) void ctx.driver.acknowledge(status).catch(() => undefined);
            },
          },
          ready: (subscribed) => {
            scheduler = new RunScheduler({
              driver: ctx.driver,
              frameworkId: subscribed.frameworkId?.value ?? "",
              clock: this.clock,
              logger: ctx.logger,
              random: this.random,
              suppressed: true,
              ...(o.offerHoldMs !== undefined ? { holdMs: o.offerHoldMs } : {}),
              agentHttp: (agentId) => this.agentHttp(agentId),
              ...(o.credential ? { authorization: authorizationHeader(o.credential) } : {}),
            });
            this.schedulerInstance = scheduler;
          },
          stop: (reason) => {
            scheduler?.stop(reason);
            if (this.schedulerInstance === scheduler) this.schedulerInstance = undefined;
          },
        };
      },
    });
  }
}

/**
 * Writes a run's events to an HTTP response as NDJSON and ends it after `end`; a response
 * that closes first (the client went away, or left more than MAX_UNREAD_BYTES unread)
 * disconnects the run (its task is killed).
 */
function streamRun(res: ServerResponse, submit: (emit: (e: RunEvent) => void) => { disconnect(): void }): void {
  res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-cache", "x-content-type-options": "nosniff" });
  res.flushHeaders();
  let ended = false;
  const heartbeat = setInterval(() => res.write("\n"), HEARTBEAT_MS).unref();
  const run = submit((e) => {
    if (ended || res.destroyed) return;
    if (res.writableLength > MAX_UNREAD_BYTES) {
      res.destroy(); // 'close' follows: the run is disconnected and its task killed
      return;
    }
    res.write(`${JSON.stringify(e)}\n`);
    if (e.event === "end") {
      ended = true;
      clearInterval(heartbeat);
      res.end();
    }
  });
  res.on("close", () => {
    clearInterval(heartbeat);
    if (!ended) run.disconnect();
  });
}
