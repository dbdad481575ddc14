/**
 * The gRPC OperatorService on a master: reads run inside the master actor through the
 * MasterFacade, weight and quota updates persist through the registrar, and Subscribe
 * streams SUBSCRIBED (with the state, taken in the same master turn as the subscription),
 * then every cluster event, and a HEARTBEAT every heartbeat interval.
 */
import * as grpc from "@grpc/grpc-js";
import { create, type Message } from "@bufbuild/protobuf";
import {
  ClusterEventSchema,
  OperatorService,
  OperatorServiceSubscribeResponseSchema,
  type ClusterEvent,
} from "../gen/dcos/v1/operator_pb.js";
import type { MasterCore } from "../actors/master/core.js";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { quota, weights } from "../actors/master/operator-calls.js";
import type { ResourceOperation } from "../actors/master/operations.js";
import type { AgentID } from "../gen/dcos/v1/common_pb.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { ClusterUsage, agentEntry, frameworkEntry, stateResponse, taskGroups, visibleAgent } from "../actors/master/state-view.js";
import { BusSubscription } from "../events/subscription.js";
import type { Metrics } from "../metrics/registry.js";
import { serviceDefinition, toStatus } from "../runtime/grpc/service.js";
import type { Logger } from "../runtime/log.js";

export interface OperatorServiceOptions {
  master: MasterFacade;
  metrics: Metrics;
  version: string;
  /** Seconds of silence before a HEARTBEAT on Subscribe streams (default 15). */
  heartbeatSeconds?: number;
  logger?: Logger;
}

type Unary = Exclude<keyof typeof OperatorService.method, "subscribe">;

function startedAt(o: OperatorServiceOptions): number {
  return o.master.master.startedAt;
}

/** Each unary call → its response's fields. */
function unaryCalls(o: OperatorServiceOptions): Record<Unary, (request: never) => Promise<object>> {
  const read = <T>(fn: (core: MasterCore) => T): Promise<T> => o.master.inspect(fn);
  return {
    getHealth: async () => ({ healthy: true }),
    getVersion: async () => ({ version: o.version }),
    getState: () => read((core) => stateResponse(core, startedAt(o))),
    getAgents: () =>
      read((core) => {
        const usage = new ClusterUsage(core);
        return { agents: [...core.agents.values()].filter(visibleAgent).map((a) => agentEntry(a, usage.agent(a.id))) };
      }),
    getFrameworks: () =>
      read((core) => {
        const usage = new ClusterUsage(core);
        return {
          frameworks: [...core.frameworks.values()].map((f) => frameworkEntry(f, usage.framework(f.id))),
          completedFrameworks: [...core.completedFrameworks.values()],
        };
      }),
    getTasks: () =>
      read((core) => {
        const g = taskGroups(core);
        return { tasks: g.tasks, unreachableTasks: g.unreachable, completedTasks: g.completed };
      }),
    getMetrics: async () => ({ metrics: Object.entries(o.metrics.snapshot()).map(([name, value]) => ({ name, value })) }),
    getWeights: () => read((core) => ({ weightInfos: weights(core) })),
    updateWeights: async (r: { weightInfos: never }) => (await o.master.updateWeights(r.weightInfos), {}),
    getQuota: () => read((core) => ({ quotaInfos: quota(core) })),
    updateQuota: async (r: { quotaInfos: never }) => (await o.master.updateQuota(r.quotaInfos), {}),
    reserveResources: (r: ResourcesRequest) => operate(o, "reserve", r.agentId?.value, r.resources),
    unreserveResources: (r: ResourcesRequest) => operate(o, "unreserve", r.agentId?.value, r.resources),
    createVolumes: (r: VolumesRequest) => operate(o, "create", r.agentId?.value, r.volumes),
    destroyVolumes: (r: VolumesRequest) => operate(o, "destroy", r.agentId?.value, r.volumes),
  };
}

type ResourcesRequest = { agentId?: AgentID; resources: Resource[] };
type VolumesRequest = { agentId?: AgentID; volumes: Resource[] };

async function operate(o: OperatorServiceOptions, operation: ResourceOperation, agentId: string | undefined, resources: readonly Resource[]): Promise<object> {
  await o.master.operateResources({ operation, agentId: agentId ?? "", resources });
  return {};
}

function subscribeHandler(o: OperatorServiceOptions): grpc.handleServerStreamingCall<Message, Message> {
  const heartbeatMs = (o.heartbeatSeconds ?? 15) * 1000;
  return (call) => {
    let sequence = 0n;
    const write = (event: ClusterEvent): number => {
      call.write(create(OperatorServiceSubscribeResponseSchema, { event }));
      return call.writableLength;
    };
    const heartbeat = setInterval(() => write(create(ClusterEventSchema, { sequence, timestamp: Date.now() / 1000, kind: { case: "heartbeat", value: {} } })), heartbeatMs);
    let subscription: BusSubscription | undefined;
    const end = (): void => {
      clearInterval(heartbeat);
      subscription?.close();
    };
    call.on("cancelled", end);
    call.on("close", end);
    call.on("error", end);
    o.master
      .inspect((core) => ({ subscription: new BusSubscription(o.master.master.events), state: stateResponse(core, startedAt(o)), sequence: o.master.master.events.lastSequence }))
      .then(({ subscription: s, state, sequence: seq }) => {
        subscription = s;
        sequence = seq;
        if (call.cancelled) return end();
        write(create(ClusterEventSchema, { sequence, timestamp: Date.now() / 1000, kind: { case: "subscribed", value: { getState: state, heartbeatIntervalSeconds: heartbeatMs / 1000 } } }));
        s.start({
          deliver: (e) => {
            sequence = e.sequence;
            return write(e);
          },
          overflow: (why) => {
            o.logger?.warn(`Ending an Operator Subscribe stream: ${why}`);
            end();
            call.emit("error", { code: grpc.status.RESOURCE_EXHAUSTED, details: `The subscriber fell behind: ${why}` });
          },
        });
      }, (err: unknown) => {
        end();
        call.emit("error", toStatus(err));
      });
  };
}

/** Hosts the OperatorService on a node's gRPC server (the node adds reflection). */
export function addOperatorService(server: grpc.Server, o: OperatorServiceOptions): void {
  const handlers: grpc.UntypedServiceImplementation = { subscribe: subscribeHandler(o) as grpc.UntypedHandleCall };
  for (const [name, fn] of Object.entries(unaryCalls(o)) as [Unary, (r: never) => Promise<object>][]) {
    const output = OperatorService.method[name].output;
    handlers[name] = ((call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
      Promise.resolve()
        .then(() => fn(call.request as never))
        .then(
          (fields) => callback(null, create(output, fields as never) as Message),
          (err: unknown) => callback(toStatus(err)),
        );
    }) as grpc.UntypedHandleCall;
  }
  server.addService(serviceDefinition(OperatorService), handlers);
}
