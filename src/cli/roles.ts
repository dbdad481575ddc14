/**
 * From command-line flags to a running role: the defaults that differ per role live here,
 * the roles themselves in src/node.
 */
import { parseServiceProxy } from "../ui/service-proxy-flag.js";
import { mkdtemp } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { InvalidArgumentError } from "commander";
import { startAgentRole, type RunningAgent } from "../node/agent-role.js";
import { startMasterRole, type RunningMaster } from "../node/master-role.js";
import { DEFAULT_SERVICES_HTTP_PORT, startServicesRole } from "../node/services-role.js";
import { niceGcThreads } from "../runtime/gc-threads.js";
import type { Logger } from "../runtime/log.js";
import type { TlsMaterial } from "../security/pki/tls-files.js";
import { DevPki, isLoopback, nodeTls, type TlsFlags } from "./transport-security.js";
import { devClientTlsDir, removeDevClientTls } from "./dev-client-tls.js";
import { natsSecurity, type NatsFlags } from "./nats-flags.js";
import { VERSION } from "./version.js";
import { parseAllowedHostPaths, type ProtectedPath } from "../isolation/host-paths.js";
import { startDnsService, type RunningDns } from "../discovery/dns/dns-service.js";
import { DEFAULT_JOBS_PORT, JobsServer } from "../frameworks/jobs/jobs-server.js";
import { RunServer } from "../frameworks/run/run-server.js";
import { writeDevRunService } from "./dev-run-service.js";
import { DEFAULT_DEV_DNS_PORT } from "./dns.js";
import { loadSecurityConfig, type SecurityConfig } from "../security/auth/security-config.js";
import { writeDevCredentials, type DevCredentials } from "../security/auth/dev-credentials.js";

export interface RoleFlags extends TlsFlags, NatsFlags {
  role: "master" | "agent" | "dev";
  ip: string;
  port?: number;
  hostname: string;
  workDir?: string;
  master?: string;
  /** master: every master of the replicated group, comma-separated host:port (this one included). */
  masters?: string;
  /** master: ms agents have to reregister after a failover before they are marked unreachable. */
  agentReregisterTimeout: number;
  /** master: agents a new leader announces itself to and waits for at once (its waves). */
  agentReregistrationWindow?: number;
  /** master: the most agents per second a new leader announces itself to (0: no cap). */
  agentReregistrationRate?: number;
  allocator: string;
  allocationInterval: number;
  offerTimeout?: number;
  maxOffersPerFramework?: number;
  maxLaunchingTasks?: number;
  maxCallQueue?: number;
  maxLoopLag?: number;
  gcThreadsNice?: number;
  maxQueuedRetriedMessages?: number;
  agentPingTimeout: number;
  maxAgentPingTimeouts: number;
  /** master: Raft tick and election timeout, ms. */
  raftTick?: number;
  raftElectionTimeout?: number;
  agentUnreachableRateLimit?: string;
  resources?: string;
  attributes?: string;
  isolation: string;
  containerizers: string;
  agents: number;
  /** HTTP port (master default 5080, agent 5081; 0 picks one). */
  httpPort?: number;
  /** dev: HTTP port of the embedded services API (Marathon's /v2; default 8080, 0 picks one, -1 turns it off). */
  servicesPort?: number;
  /** dev: the role the embedded services framework subscribes with (default "*"). */
  servicesRole?: string;
  /** NATS server for the master's event tap. */
  nats?: string;
  cluster: string;
  /** dev: the embedded DNS server's port (default 5353). */
  dnsPort?: number;
  /** dev: false with --no-dns. */
  dns?: boolean;
  /** dev: the jobs framework's API port (default 4400; 0 picks one). */
  jobsPort?: number;
  /** dev: false runs no jobs framework. */
  jobs?: boolean;
  /** dev: the run service's port (default 0: any free one; -1 runs none). */
  runPort?: number;
  /** dev: ms the run service keeps offers after a run (default 10 s). */
  runOfferHold?: number;
  /** dev: the run service's caps on runs in progress (total, per principal). */
  runMaxRuns?: number;
  runMaxRunsPerPrincipal?: number;
  /** master/agent: the principals and secrets clients authenticate with (Mesos's credentials JSON). */
  credentials?: string;
  /** master/agent: the ACLs (Mesos's JSON shape). */
  acls?: string;
  /** master: frameworks served under /service/<name>, as name=principal pairs (checked when parsed). */
  serviceProxy?: string;
  /** Refuse unauthenticated callers (default: when --credentials is given; dev: no). */
  authenticate?: boolean;
  /** Run tasks as their user (default: on for --role=agent, off in the dev cluster). */
  switchUser?: boolean;
  /** agent: where reference secrets are read from. */
  secretsDir?: string;
  /** agent: comma-separated prefixes under which tasks may mount host paths (default: anywhere not protected). */
  allowedHostPaths?: string;
  /** agent: who runs command tasks (agent | process). */
  commandExecutor?: "agent" | "process";
  /** `--recovery-timeout` in ms (agent). */
  recoveryTimeout?: number;
  /** agent: `--runtime-dir` (default: tmpfs, isolation/runtime-root.ts). */
  runtimeDir?: string;
}

export const DEFAULT_MASTER_PORT = 5050;
export const DEFAULT_AGENT_PORT = 5051;
export const DEFAULT_MASTER_HTTP_PORT = 5080;
export const DEFAULT_AGENT_HTTP_PORT = 5081;

export interface Running {
  stop(): Promise<void>;
}

export async function startRole(role: RoleFlags["role"], flags: RoleFlags, logger: Logger): Promise<Running> {
  switch (role) {
    case "master": {
      // The collector's helper threads below the event loop (src/runtime/gc-threads.ts), before any other thread starts.
      if ((flags.gcThreadsNice ?? 0) > 0) {
        const gc = niceGcThreads(flags.gcThreadsNice!);
        if ("niced" in gc) logger.info(`The garbage collector's ${gc.niced.length} helper thread(s) run at nice ${flags.gcThreadsNice}`);
        else logger.info(`The garbage collector's helper threads keep their CPU priority: ${gc.skipped}`);
      }
      const tls = await nodeTls("master", flags.ip, flags, logger);
      return startMaster(flags, logger, flags.port ?? DEFAULT_MASTER_PORT, flags.httpPort ?? DEFAULT_MASTER_HTTP_PORT, flags.workDir, await loadSecurityConfig(flags), tls);
    }
    case "agent": {
      if (!flags.master) throw new InvalidArgumentError("--role=agent needs --master=host:port");
      const tls = await nodeTls("agent", flags.ip, flags, logger);
      return startAgent(flags, logger, flags.master, flags.port ?? DEFAULT_AGENT_PORT, flags.workDir ?? "/var/lib/dcos-node/agent", flags.httpPort ?? DEFAULT_AGENT_HTTP_PORT, await loadSecurityConfig(flags), undefined, tls);
    }
    case "dev":
      return startDev(flags, logger);
  }
}

// Agents tell the master their HTTP port when they register (AgentInfo.http_port): the web UI reads sandboxes there.
async function startMaster(
  flags: RoleFlags,
  logger: Logger,
  port: number,
  httpPort: number,
  workDir: string | undefined,
  security: SecurityConfig,
  tls: TlsMaterial | undefined,
  plaintextClients = false,
): Promise<RunningMaster> {
  const nats = await natsSecurity(flags);
  return startMasterRole({
    security,
    tls,
    plaintextClients,
    ...(nats ? { natsSecurity: nats } : {}),
    masters: flags.masters?.split(",").map((m) => m.trim()).filter((m) => m !== ""),
    workDir,
    agentReregisterTimeoutMs: flags.agentReregisterTimeout,
    ...(flags.agentReregistrationWindow !== undefined ? { agentReregistrationWindow: flags.agentReregistrationWindow } : {}),
    ...(flags.agentReregistrationRate !== undefined ? { agentReregistrationRate: flags.agentReregistrationRate } : {}),
    ip: flags.ip,
    port,
    hostname: flags.hostname,
    allocator: flags.allocator,
    allocationIntervalMs: flags.allocationInterval,
    offerTimeoutMs: flags.offerTimeout ?? 0,
    maxOffersPerFramework: flags.maxOffersPerFramework ?? 0,
    launchAdmission: { maxLaunchingTasks: flags.maxLaunchingTasks ?? 5000, maxQueueMs: flags.maxCallQueue ?? 1000, maxLoopLagMs: flags.maxLoopLag ?? 0 },
    ...(flags.maxQueuedRetriedMessages !== undefined ? { maxQueuedRetriedMessages: flags.maxQueuedRetriedMessages } : {}),
    agentPingTimeoutMs: flags.agentPingTimeout,
    maxAgentPingTimeouts: flags.maxAgentPingTimeouts,
    raftTickMs: flags.raftTick,
    raftElectionTimeoutMs: flags.raftElectionTimeout,
    agentUnreachableRateLimit: flags.agentUnreachableRateLimit,
    ...(flags.serviceProxy !== undefined ? { serviceProxy: parseServiceProxy(flags.serviceProxy) } : {}),
    version: VERSION,
    logger,
    httpPort,
    nats: flags.nats,
    cluster: flags.cluster,
    flags: { ...flags, credentials: flags.credentials && "(set)" },
  });
}

function startAgent(
  flags: RoleFlags,
  logger: Logger,
  master: string,
  port: number,
  workDir: string,
  httpPort: number,
  security: SecurityConfig,
  name: string | undefined,
  tls: TlsMaterial | undefined,
): Promise<RunningAgent> {
  return startAgentRole({
    security,
    switchUser: flags.switchUser ?? flags.role === "agent",
    secretsDir: flags.secretsDir,
    allowedHostPaths: flags.allowedHostPaths === undefined ? undefined : parseAllowedHostPaths(flags.allowedHostPaths),
    protectedHostPaths: protectedHostPaths(flags, workDir),
    commandExecutor: flags.commandExecutor,
    recoveryTimeoutMs: flags.recoveryTimeout,
    ...(flags.runtimeDir ? { runtimeDir: flags.runtimeDir } : {}),
    tls,
    ip: flags.ip,
    port,
    hostname: flags.hostname,
    master,
    workDir,
    resources: flags.resources,
    attributes: flags.attributes,
    isolation: flags.isolation,
    containerizers: flags.containerizers,
    name,
    logger,
    httpPort,
    version: VERSION,
    flags: { ...flags, workDir, credentials: flags.credentials && "(set)" },
  });
}

/**
 * What of the node's own no task may mount as a host path (besides the agent's work dir):
 * its credential and key files, the dev clusters' client TLS directories and, in
 * the dev cluster, the whole cluster's work dir (its generated credentials and certificates).
 */
function protectedHostPaths(flags: RoleFlags, workDir: string): ProtectedPath[] {
  // (The --secrets-dir is added by the agent node.)
  const named: [string | undefined, string][] = [
    [flags.credentials, "the agent's --credentials file"],
    [flags.tlsDir, "the agent's --tls-dir"],
    [flags.tlsKey, "the agent's TLS key"],
    [flags.tlsTicketKeys, "the agent's TLS ticket keys"],
    [process.env.DCOS_NODE_CREDENTIAL_FILE, "the node's credential file"],
    [join(homedir(), ".dcos-node"), "the dev clusters' client credentials"],
    [flags.role === "dev" ? dirname(workDir) : undefined, "the dev cluster's work directory"],
  ];
  return named.filter((n): n is [string, string] => typeof n[0] === "string" && n[0] !== "").map(([path, what]) => ({ path: resolve(path), what }));
}

/**
 * The embedded cluster: one master and `--agents` agents in this process, each on its own
 * node (its own gRPC port), exactly as separate processes would run them, with mutual TLS
 * from a CA it makes for itself (unless --insecure). On loopback its master's port also
 * serves clients without TLS (frameworks in any language, tools) while the actor transport
 * still requires node certificates; `run` finds a principal's TLS directory by the
 * master's address (dev-client-tls.ts).
 */
export interface RunningDev extends Running {
  readonly master: RunningMaster;
  /** The generated principals and their client credential files (see docs/security.md). */
  readonly credentials: DevCredentials;
  /** The embedded jobs framework (Chronos API), unless --no-jobs. */
  readonly jobs?: JobsServer;
  /** The run service `dcos-node run` talks to, unless --run-port=-1. */
  readonly run?: RunServer;
}

/**
 * The dev cluster's security: generated credentials for the CLI and first-party frameworks
 * (under the work dir), plus --acls if given; unauthenticated callers are still served
 * (loopback, zero-config) unless --authenticate, but may not act as a generated principal.
 */
async function devSecurity(flags: RoleFlags, workDir: string): Promise<{ config: SecurityConfig; credentials: DevCredentials }> {
  const credentials = await writeDevCredentials(workDir);
  const loaded = await loadSecurityConfig({ acls: flags.acls, credentials: flags.credentials });
  return {
    credentials,
    config: { ...loaded, credentials: [...credentials.credentials, ...(loaded.credentials ?? [])], authenticate: flags.authenticate ?? false },
  };
}

async function startDev(flags: RoleFlags, logger: Logger): Promise<RunningDev> {
  if (!Number.isInteger(flags.agents) || flags.agents < 0) throw new InvalidArgumentError(`--agents must be a whole number ≥ 0, not ${flags.agents}`);
  const workDir = flags.workDir ?? (await mkdtemp(join(tmpdir(), "dcos-node-dev-")));
  if (flags.tlsDir || flags.tlsCa || flags.tlsCert || flags.tlsKey) throw new InvalidArgumentError("--role=dev makes its own certificates: leave out --tls-dir, --tls-ca, --tls-cert and --tls-key (or give --insecure for none)");
  const pki = flags.insecure ? undefined : await DevPki.create(flags.cluster, flags.ip);
  const security = await devSecurity(flags, workDir);
  const master = await startMaster(flags, logger, flags.port ?? DEFAULT_MASTER_PORT, flags.httpPort ?? DEFAULT_MASTER_HTTP_PORT, join(workDir, "master"), security.config, await pki?.issue("master", "master"), isLoopback(flags.ip));
  const agents: RunningAgent[] = [];
  try {
    for (let i = 1; i <= flags.agents; i++) {
      const agent = await startAgent(flags, logger.child({ agent: i }), master.address, 0, join(workDir, `agent-${i}`), 0, security.config, undefined, await pki?.issue("agent", `agent-${i}`));
      agents.push(agent);
    }
  } catch (err) {
    for (const a of agents) await a.stop();
    await master.stop();
    throw err;
  }
  // Up means usable: the UI and the scheduler API answer only once the master leads.
  if (!(await leadingWithin(master, DEV_LEADER_TIMEOUT_MS))) {
    logger.warn(`The embedded master is not leading after ${DEV_LEADER_TIMEOUT_MS / 1000} s; the cluster answers once it is`);
  }
  // CLI clients (run) find the principal's TLS directory by the master's address.
  const clientTlsDir = devClientTlsDir(master.address);
  await pki?.writeClientDir(clientTlsDir, "dev");
  const dns = flags.dns === false ? undefined : await startDevDns(flags, logger, master, security.credentials);
  const jobs = flags.jobs === false ? undefined : await startDevJobs(flags, logger, master, security);
  const run = await startDevRun(flags, logger, master, security, pki);
  const servicesPort = flags.servicesPort ?? DEFAULT_SERVICES_HTTP_PORT;
  const servicesCredential = security.credentials.credentials.find((c) => c.principal === "dcos-services");
  const services =
    servicesPort < 0
      ? undefined
      : await startServicesRole({
          masters: [master.address],
          host: flags.ip,
          httpPort: servicesPort,
          role: flags.servicesRole,
          logger: logger.child({ role: "services" }),
          version: VERSION,
          credential: servicesCredential,
          principal: servicesCredential?.principal,
          security: security.config,
        });
  logger.info(
    `Embedded cluster up: master ${master.address} leading, ${agents.length} agents, work dir ${workDir}. Web UI: http://${master.http.address}/ . ` +
      (jobs ? `Jobs API (Chronos): http://${jobs.address} . ` : "") +
      (services ? `Services API (Marathon /v2): http://${services.address}/ . ` : "") +
      (run ? `Run service: ${run.url}${run.loopbackUrl ? ` (and ${run.loopbackUrl} on loopback)` : ""} . ` : "") +
      `Try: npx dcos-node run --master=${master.address} -- echo hello . ` +
      `Credentials: ${security.credentials.credentials.map((c) => c.principal).join(", ")} in ${join(workDir, "credentials")} (--credential-file or DCOS_NODE_CREDENTIAL_FILE)` +
      (pki ? `. Mutual TLS: clients find the cluster's CA and a principal's certificate in ${clientTlsDir}` : ""),
  );
  return {
    master,
    credentials: security.credentials,
    ...(jobs ? { jobs } : {}),
    ...(run ? { run } : {}),
    stop: async () => {
      await services?.stop();
      await run?.stop();
      await jobs?.stop();
      await dns?.stop();
      await killDevTasks(agents, logger);
      for (const a of agents) await a.stop();
      await master.stop();
      if (pki || run) await removeDevClientTls(master.address);
    },
  };
}

/** How long `--role=dev` waits for its master to lead before saying it is up anyway. */
const DEV_LEADER_TIMEOUT_MS = 30_000;
/** SIGTERM, then SIGKILL after this, for the dev cluster's tasks on exit. */
const DEV_KILL_GRACE_MS = 2_000;

/** Resolves true once the master leads, false after timeoutMs. */
async function leadingWithin(master: RunningMaster, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!master.master.leading) {
    if (Date.now() > deadline) return false;
    await delay(20);
  }
  return true;
}

/**
 * The embedded cluster is throw-away (its work dir is not found again), so on exit it kills
 * every container its agents run, and says so. A real agent (--role=agent) keeps its tasks
 * running when it stops and finds them again when it restarts.
 */
async function killDevTasks(agents: readonly RunningAgent[], logger: Logger): Promise<void> {
  const kills = agents.flatMap((a) => {
    const containerizer = a.agentNode.containerizer;
    return containerizer.containers().map((id) =>
      containerizer.destroy(id, DEV_KILL_GRACE_MS).catch((err: unknown) => logger.warn({ err, container: id }, `Could not kill container ${id}`)),
    );
  });
  if (kills.length === 0) return;
  logger.info(`Killing the embedded cluster's ${kills.length} task container(s) (a real agent would keep them running)`);
  await Promise.all(kills);
  logger.info(`Killed ${kills.length} task container(s) of the embedded cluster`);
}

/** The dev cluster's jobs framework (Chronos API on 4400); a port in use is a warning, not a failed start. */
async function startDevJobs(
  flags: RoleFlags,
  logger: Logger,
  master: RunningMaster,
  security: { config: SecurityConfig; credentials: DevCredentials },
): Promise<JobsServer | undefined> {
  const port = flags.jobsPort ?? DEFAULT_JOBS_PORT;
  const credential = security.credentials.credentials.find((c) => c.principal === "dcos-jobs");
  try {
    return await JobsServer.start({
      masters: [master.address],
      host: flags.ip,
      httpPort: port,
      logger: logger.child({ component: "jobs" }),
      security: security.config,
      ...(credential ? { credential, principal: credential.principal } : {}),
    });
  } catch (err) {
    logger.warn({ err }, `No jobs framework: port ${port} on ${flags.ip} is not usable (--jobs-port=N picks another, --no-jobs turns it off)`);
    return undefined;
  }
}

/**
 * The dev cluster's run service (HTTPS with a certificate of the dev CA unless --insecure),
 * recorded where `dcos-node run` looks for it by the master's address (dev-run-service.ts).
 */
async function startDevRun(
  flags: RoleFlags,
  logger: Logger,
  master: RunningMaster,
  security: { config: SecurityConfig; credentials: DevCredentials },
  pki: DevPki | undefined,
): Promise<RunServer | undefined> {
  const port = flags.runPort ?? 0;
  if (port < 0) return undefined;
  const credential = security.credentials.credentials.find((c) => c.principal === "dcos-run");
  const tls = await pki?.issue("principal", "dcos-run");
  const run = await RunServer.start({
    masters: [master.address],
    host: flags.ip,
    httpPort: port,
    logger: logger.child({ component: "run" }),
    security: security.config,
    ...(flags.runOfferHold !== undefined ? { offerHoldMs: flags.runOfferHold } : {}),
    ...(flags.runMaxRuns !== undefined ? { maxRuns: flags.runMaxRuns } : {}),
    ...(flags.runMaxRunsPerPrincipal !== undefined ? { maxRunsPerPrincipal: flags.runMaxRunsPerPrincipal } : {}),
    ...(tls ? { https: { cert: tls.cert, key: tls.key, ca: tls.ca }, plaintextLoopback: isLoopback(flags.ip) } : {}),
    ...(credential ? { credential, principal: credential.principal } : {}),
  });
  await writeDevRunService(devClientTlsDir(master.address), { url: run.url, ...(run.loopbackUrl ? { loopback: run.loopbackUrl } : {}) });
  // "Embedded cluster up" promises that `dcos-node run` works: wait for the service's lease and subscription.
  if (!(await run.serving(DEV_LEADER_TIMEOUT_MS))) {
    logger.warn(`The run service is not leading after ${DEV_LEADER_TIMEOUT_MS / 1000} s; dcos-node run answers 503 until it is`);
  }
  return run;
}

/** The dev cluster's DNS (names under `dcos.`); a port in use is a warning, not a failed start. */
async function startDevDns(flags: RoleFlags, logger: Logger, master: RunningMaster, credentials: DevCredentials): Promise<RunningDns | undefined> {
  const credential = credentials.credentials.find((c) => c.principal === "dcos-discovery");
  const port = flags.dnsPort ?? DEFAULT_DEV_DNS_PORT;
  try {
    return await startDnsService({ masters: [master.address], host: flags.ip, port, metrics: master.node.metrics, logger: logger.child({ component: "dns" }), credential });
  } catch (err) {
    logger.warn({ err }, `No DNS server: port ${port} on ${flags.ip} is not usable (--dns-port=N picks another, --no-dns turns it off)`);
    return undefined;
  }
}
