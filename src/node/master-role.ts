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
import { startNode, type Node } from "./node.js";

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
}

export interface RunningMaster {
  readonly node: Node;
  readonly master: Master;
  readonly facade: MasterFacade;
  /** host:port schedulers and agents connect to. */
  readonly address: string;
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
    node.serve([file_dcos_v1_scheduler, file_dcos_v1_internal], (server) =>
      addSchedulerService(server, facade, { reflection: false, log: o.logger }),
    );
    node.onStop(() => allocator.stop());
    o.logger.info(`Master listening on ${node.address} (schedulers: gRPC dcos.v1.SchedulerService; agents: --master=${node.address})`);
    return { node, master, facade, address: node.address, stop: () => node.stop() };
  } catch (err) {
    await node.stop();
    throw err;
  }
}
