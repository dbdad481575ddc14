/**
 * `dcos-node --role=master`: the master actor and its allocator on a node, the Scheduler
 * gRPC service on the node's port. A single master keeps its registry in memory for now;
 * the replicated masters of the fault-tolerance issue swap the registrar for one in Raft.
 */
import { randomUUID } from "node:crypto";
import { file_dcos_v1_internal } from "../gen/dcos/v1/internal_pb.js";
import { file_dcos_v1_scheduler } from "../gen/dcos/v1/scheduler_pb.js";
import { createAllocator } from "../actors/allocator/allocator-facade.js";
import { Master } from "../actors/master/master.js";
import { MasterFacade } from "../actors/master/master-facade.js";
import { InMemoryRegistrar } from "../actors/master/registry.js";
import { addSchedulerService } from "../actors/master/scheduler-service.js";
import type { Logger } from "../runtime/log.js";
import type { AgentHttpResolver } from "../ui/task-sandbox.js";
import { startNode, type Node } from "./node.js";
import { file_dcos_v1_operator } from "../gen/dcos/v1/operator_pb.js";
import { NatsEventTap } from "../events/nats-tap.js";
import { startMasterHttp, type RunningMasterHttp } from "../operator/master-http.js";
import { addOperatorService } from "../operator/operator-service.js";

export interface MasterRoleOptions {
  ip: string;
  port: number;
  hostname: string;
  allocator: string;
  allocationIntervalMs: number;
  offerTimeoutMs: number;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  version: string;
  logger: Logger;
  /** HTTP port for operators (/state, /metrics, /events); 0 picks one. */
  httpPort: number;
  /** NATS server for the event tap (none: events only on Operator Subscribe and /events). */
  nats?: string;
  cluster: string;
  /** Flags as given, for /flags and /state. */
  flags: Record<string, unknown>;
  /** Where an agent's HTTP endpoint listens (the web UI reads task sandboxes there). */
  agentHttpAddress?: AgentHttpResolver;
}

export interface RunningMaster {
  readonly node: Node;
  readonly master: Master;
  readonly facade: MasterFacade;
  /** host:port schedulers and agents connect to. */
  readonly address: string;
  readonly http: RunningMasterHttp;
  stop(): Promise<void>;
}

export async function startMasterRole(o: MasterRoleOptions): Promise<RunningMaster> {
  const node = await startNode({ ip: o.ip, port: o.port, logger: o.logger });
  try {
    const allocator = createAllocator(o.allocator, node.system, { allocationIntervalMs: o.allocationIntervalMs });
    const master = node.system.spawn(
      new Master({
        allocator,
        registrar: new InMemoryRegistrar(),
        // Ids this master hands out start with its own id, so they never repeat across restarts.
        masterId: randomUUID(),
        hostname: o.hostname,
        port: Number(node.address.split(":").pop()),
        version: o.version,
        offerTimeoutMs: o.offerTimeoutMs,
        agentPingTimeoutMs: o.agentPingTimeoutMs,
        maxAgentPingTimeouts: o.maxAgentPingTimeouts,
      }),
    );
    const facade = new MasterFacade(master);
    node.serve([file_dcos_v1_scheduler, file_dcos_v1_internal, file_dcos_v1_operator], (server) => {
      addSchedulerService(server, facade, { reflection: false, log: o.logger });
      addOperatorService(server, { master: facade, metrics: node.metrics, version: o.version, logger: o.logger });
    });
    node.onStop(() => allocator.stop());
    if (o.nats) {
      const tap = new NatsEventTap({ url: o.nats, cluster: o.cluster, bus: master.events, metrics: node.metrics, logger: o.logger });
      node.onStop(() => tap.close());
    }
    const http = await startMasterHttp({
      host: o.ip,
      port: o.httpPort,
      master: facade,
      metrics: node.metrics,
      cluster: o.cluster,
      version: o.version,
      flags: o.flags,
      logger: o.logger,
      ui: { agentHttpAddress: o.agentHttpAddress },
    });
    node.onStop(() => http.close());
    o.logger.info(`Master HTTP on http://${http.address} (/state, /metrics, /events)`);
    o.logger.info(`Master listening on ${node.address} (schedulers: gRPC dcos.v1.SchedulerService; agents: --master=${node.address})`);
    return { node, master, facade, address: node.address, http, stop: () => node.stop() };
  } catch (err) {
    await node.stop();
    throw err;
  }
}
