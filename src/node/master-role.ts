/**
 * `dcos-node --role=master`: a master node of the replicated group (`--masters=a,b,c`; a
 * single master is a group of one): the raft actor with the registry on disk under
 * `--work-dir`, the master actor (a standby until its raft member is elected) with a fresh
 * allocator per term, and the Scheduler and Operator gRPC services on the node's port.
 * A standby answers them UNAVAILABLE with the leader's address (`dcos-leader`), and sends
 * browsers and /redirect to the leader's HTTP endpoint (its port is in the leader's
 * `elected` entry, MasterInfo.http_port).
 */
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { file_dcos_v1_internal } from "../gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_scheduler } from "../gen/dcos/v1/scheduler_pb.js";
import { createAllocator } from "../actors/allocator/allocator-facade.js";
import type { Master } from "../actors/master/master.js";
import { startMasterGroup } from "../actors/master/master-group.js";
import { MasterFacade } from "../actors/master/master-facade.js";
import type { LaunchAdmissionLimits } from "../actors/master/launch-admission.js";
import { addSchedulerService } from "../actors/master/scheduler-service.js";
import type { Logger } from "../runtime/log.js";
import type { AgentHttpResolver } from "../ui/task-sandbox.js";
import { startNode, type Node } from "./node.js";
import type { TlsMaterial } from "../security/pki/tls-files.js";
import { revocableCertificatePrincipals } from "../security/pki/grpc-credentials.js";
import { file_dcos_v1_operator } from "../gen/dcos/v1/operator_pb.js";
import { NatsEventTap } from "../events/nats-tap.js";
import { natsConnectOptions, type NatsSecurity } from "../runtime/transports/nats-security.js";
import { startMasterHttp, type RunningMasterHttp } from "../operator/master-http.js";
import { webUiRoutes } from "../ui/web-ui-routes.js";
import { addOperatorService } from "../operator/operator-service.js";
import { leaderHttpAddress } from "../operator/leader-http.js";
import { file_dcos_v1_replicated_log } from "../gen/dcos/v1/replicated_log_pb.js";
import { frameworkLogHost } from "../actors/master/raft-registrar.js";
import { addReplicatedLogService } from "../raft/log-service.js";
import { ReplicatedStateMachine } from "../raft/replicated-state-machine.js";
import { raftTiming } from "../raft/timing.js";
export { RAFT_TIMING_DEFAULTS } from "../raft/timing.js";
import { serviceSecurity, type SecurityConfig } from "../security/auth/security-config.js";
import type { ServiceSecurity } from "../security/auth/service-security.js";
import { Random } from "../runtime/random.js";

export interface MasterRoleOptions {
  /** Mutual TLS with this master's certificate (see NodeOptions.tls); default plaintext. */
  tls?: TlsMaterial;
  /** With tls: also serve schedulers and tools without TLS on the port (the loopback dev cluster). */
  plaintextClients?: boolean;
  /** host:port of every master, this one included (`--masters`); none or one: a group of one. */
  masters?: readonly string[];
  /** Where the master keeps its Raft log and snapshots (`<dir>/raft`); default a new temporary directory. */
  workDir?: string;
  /** After a failover, agents not back within this are marked unreachable (default 10 min). */
  agentReregisterTimeoutMs?: number;
  /** Agents a new leader announces itself to and waits for at once (default 1,000; MasterOptions.agentReregistrationWindow). */
  agentReregistrationWindow?: number;
  /** The most agents per second a new leader announces itself to (default 0: no cap; MasterOptions.agentReregistrationRate). */
  agentReregistrationRate?: number;
  /** The master's mailbox bound for agents' status updates (default 10,000; MasterOptions.maxQueuedRetriedMessages). */
  maxQueuedRetriedMessages?: number;
  ip: string;
  port: number;
  hostname: string;
  allocator: string;
  allocationIntervalMs: number;
  offerTimeoutMs: number;
  /** Outstanding offers a framework may hold before its offers pause (MasterOptions.maxOffersPerFramework); default 0: no limit. */
  maxOffersPerFramework?: number;
  /** Admission control of launches (launch-admission.ts); defaults where absent. */
  launchAdmission?: Partial<LaunchAdmissionLimits>;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  /** Raft's tick (the leader's heartbeat interval) and election timeout; defaults RAFT_TIMING_DEFAULTS. */
  raftTickMs?: number;
  raftElectionTimeoutMs?: number;
  /** At most this many agents marked unreachable per duration ("1/10mins"); default no limit. */
  agentUnreachableRateLimit?: string;
  version: string;
  logger: Logger;
  /** HTTP port for operators (/state, /metrics, /events); 0 picks one. */
  httpPort: number;
  /** NATS server for the event tap (none: events only on Operator Subscribe and /events). */
  nats?: string;
  /** TLS and credentials for the NATS connection of the event tap. */
  natsSecurity?: NatsSecurity;
  cluster: string;
  /** Flags as given, for /flags and /state. */
  flags: Record<string, unknown>;
  /** Where an agent's HTTP endpoint listens (the web UI reads task sandboxes there). */
  agentHttpAddress?: AgentHttpResolver;
  /** Credentials, ACLs and whether callers must authenticate (default: open, permissive). */
  security?: SecurityConfig;
  /** The master's id is drawn from it (a seeded source; default one seeded from the OS, so each process differs). */
  random?: Random;
  /** Frameworks whose API the master serves under /service/<name>: name → principal (`--service-proxy`). */
  serviceProxy?: ReadonlyMap<string, string>;
}

export interface RunningMaster {
  readonly node: Node;
  /** Who may call the public services (gRPC and HTTP). */
  readonly security: ServiceSecurity;
  readonly master: Master;
  readonly facade: MasterFacade;
  /** host:port schedulers and agents connect to. */
  readonly address: string;
  readonly http: RunningMasterHttp;
  stop(): Promise<void>;
}

/**
 * A free port on `host` for `--http-port=0`: the port goes in the master's `elected` entry,
 * which may be written before the HTTP endpoint listens. (Another process could take it in
 * between; listening then fails loudly.)
 */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function startMasterRole(o: MasterRoleOptions): Promise<RunningMaster> {
  const node = await startNode({ ip: o.ip, port: o.port, logger: o.logger, ...(o.tls ? { tls: o.tls, plaintextClients: o.plaintextClients ?? false } : {}) });
  try {
    const httpPort = o.httpPort === 0 ? await freePort(o.ip) : o.httpPort;
    let dir = o.workDir ? join(o.workDir, "raft") : undefined;
    if (!dir) {
      dir = await mkdtemp(join(tmpdir(), "dcos-master-raft-"));
      o.logger.warn(`No --work-dir: the master keeps its registry in ${dir}, which a restart does not find again`);
    }
    const group = await startMasterGroup({
      system: node.system,
      raft: raftTiming(o.raftTickMs, o.raftElectionTimeoutMs),
      masters: o.masters ?? [],
      dir,
      logger: o.logger,
      allocator: () => createAllocator(o.allocator, node.system, { name: node.system.uniqueName("allocator"), allocationIntervalMs: o.allocationIntervalMs }),
      // Ids this master hands out start with its own id, so they never repeat across restarts.
      masterId: (o.random ?? Random.fromOs()).uuid(),
      hostname: o.hostname,
      port: Number(node.address.split(":").pop()),
      httpPort,
      version: o.version,
      offerTimeoutMs: o.offerTimeoutMs,
      ...(o.maxOffersPerFramework !== undefined ? { maxOffersPerFramework: o.maxOffersPerFramework } : {}),
      agentPingTimeoutMs: o.agentPingTimeoutMs,
      maxAgentPingTimeouts: o.maxAgentPingTimeouts,
      agentUnreachableRateLimit: o.agentUnreachableRateLimit,
      agentReregisterTimeoutMs: o.agentReregisterTimeoutMs,
      ...(o.agentReregistrationWindow !== undefined ? { agentReregistrationWindow: o.agentReregistrationWindow } : {}),
      ...(o.agentReregistrationRate !== undefined ? { agentReregistrationRate: o.agentReregistrationRate } : {}),
      ...(o.maxQueuedRetriedMessages !== undefined ? { maxQueuedRetriedMessages: o.maxQueuedRetriedMessages } : {}),
    });
    const master: Master = group.master;
    // Before the actors stop: stand down while the allocator still runs, then close the log.
    node.onStop(() => group.storage.close());
    node.onStop(() => node.system.dispatch(master, (m) => m.standDown(undefined, "the node stops")));
    const facade = new MasterFacade(master, o.launchAdmission);
    // With TLS, a client's verified principal certificate authenticates it too.
    const security = serviceSecurity(o.tls ? { ...o.security, peerIdentity: o.security?.peerIdentity ?? revocableCertificatePrincipals(node.revocations) } : o.security, node.metrics);
    node.serve([file_dcos_v1_scheduler, file_dcos_v1_internal, file_dcos_v1_operator, file_dcos_v1_replicated_log], (server) => {
      addSchedulerService(server, facade, { reflection: false, log: o.logger, security, metrics: node.metrics });
      addReplicatedLogService(server, frameworkLogHost(new ReplicatedStateMachine(group.raft)), { metrics: node.metrics, logger: o.logger, security });
      addOperatorService(server, { master: facade, metrics: node.metrics, version: o.version, logger: o.logger, security });
    });
    if (o.nats) {
      await natsConnectOptions(o.natsSecurity); // a missing file or a contradiction fails the start, not the tap's retries
      const tap = new NatsEventTap({ url: o.nats, cluster: o.cluster, bus: master.events, metrics: node.metrics, logger: o.logger, ...(o.natsSecurity ? { security: o.natsSecurity } : {}) });
      node.onStop(() => tap.close());
    }
    let http: RunningMasterHttp | undefined;
    const leaderHttp = leaderHttpAddress({
      knownLeader: () => master.knownLeader,
      self: master.self.toString(),
      elected: () => group.raft.machine.leader,
      ownHttp: () => http?.address ?? "",
    });
    http = await startMasterHttp({
      security,
      host: o.ip,
      port: httpPort,
      master: facade,
      metrics: node.metrics,
      cluster: o.cluster,
      version: o.version,
      flags: o.flags,
      logger: o.logger,
      leaderHttpAddress: leaderHttp,
      routes: [webUiRoutes({ master: facade, leaderHttpAddress: leaderHttp, logger: o.logger, agentHttpAddress: o.agentHttpAddress, security, ...(o.serviceProxy ? { serviceProxy: o.serviceProxy } : {}) })],
    });
    const running = http;
    node.onStop(() => running.close());
    o.logger.info(`Master HTTP on http://${http.address} (/state, /metrics, /events)`);
    const groupText = (o.masters ?? []).length > 1 ? `one of ${(o.masters ?? []).join(",")}` : "a group of one";
    o.logger.info(`Master listening on ${node.address}, ${groupText} (schedulers: gRPC dcos.v1.SchedulerService; agents: --master=${node.address})`);
    return { node, security, master, facade, address: node.address, http: running, stop: () => node.stop() };
  } catch (err) {
    await node.stop();
    throw err;
  }
}
