/**
 * The gRPC OperatorService on a master: reads run inside the master actor through the
 * MasterFacade, weight and quota updates persist through the registrar, and Subscribe
 * streams SUBSCRIBED (with the state, taken in the same master turn as the subscription),
 * then every cluster event, and a HEARTBEAT every heartbeat interval.
 */
import { maintenanceSchedule, maintenanceStatus } from "../actors/master/maintenance.js";
import { drainView } from "../actors/master/drain-view.js";
import * as grpc from "@grpc/grpc-js";
import { create, type Message } from "@bufbuild/protobuf";
import {
  ClusterEventSchema,
  OperatorService,
  OperatorServiceSubscribeResponseSchema,
  type ClusterEvent,
} from "../gen/dcos/v1/operator_pb.js";
import type { MasterView } from "../actors/master/master-view.js";
import type { MasterFacade } from "../actors/master/master-facade.js";
import { quota, quotaConfigs, weights } from "../actors/master/operator-calls.js";
import type { ResourceOperation } from "../actors/master/operations.js";
import type { AgentID } from "../gen/dcos/v1/common_pb.js";
import type { MachineID } from "../gen/dcos/v1/cluster_pb.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { ClusterUsage, agentEntry, executorsResponse, frameworkEntry, taskGroups, visibleAgent } from "../actors/master/state-view.js";
import { EventVisibility, filterState, VisibleTo } from "../actors/master/state-filter.js";
import { stateResponse } from "../actors/master/state-response.js";
import { viewPermissions, type ViewPermissions } from "../security/auth/view-acls.js";
import type { Task } from "../gen/dcos/v1/tasks_pb.js";
import { BusSubscription } from "../events/subscription.js";
import type { Metrics } from "../metrics/metrics.js";
import { toStatus } from "../runtime/grpc/service.js";
import type { Logger } from "../runtime/log.js";
import type { Caller } from "../security/auth/caller.js";
import { EVERY } from "../security/auth/acls.js";
import { addGuardedService, callerOf } from "../security/auth/grpc-guard.js";
import { effectivePrincipal, openSecurity, type ServiceSecurity } from "../security/auth/service-security.js";

export interface OperatorServiceOptions {
  master: MasterFacade;
  metrics: Metrics;
  version: string;
  /** Seconds of silence before a HEARTBEAT on Subscribe streams (default 15). */
  heartbeatSeconds?: number;
  logger?: Logger;
  /** Who may call what (default: anyone, permissive ACLs). */
  security?: ServiceSecurity;
}

type Unary = Exclude<keyof typeof OperatorService.method, "subscribe">;

function startedAt(o: OperatorServiceOptions): number {
  return o.master.master.startedAt;
}

/** The role a resource is (to be) reserved to: its last reservation's. */
function reservedRole(r: Resource): string {
  return r.reservations[r.reservations.length - 1]?.role ?? "*";
}

/**
 * The ACL checks of the calls that change resources, and the principals they record filled
 * in from the caller: RESERVE (reserve_resources on the role; the reservation is the
 * caller's), UNRESERVE (unreserve_resources on the reserver), CREATE (create_volumes on
 * the role; the volume is the caller's), DESTROY (destroy_volumes on the creator).
 */
function authorizeOperation(security: ServiceSecurity, caller: Caller, operation: ResourceOperation, resources: readonly Resource[]): void {
  const az = security.authorizer;
  resources.forEach((r, i) => {
    const what = `resource #${i + 1}`;
    const reservation = r.reservations[r.reservations.length - 1];
    switch (operation) {
      case "reserve":
        if (reservation) reservation.principal = effectivePrincipal(security, caller, reservation.principal, `${what} reservation principal`);
        az.check(caller, "reserve_resources", reservedRole(r), `reserve resources for role '${reservedRole(r)}'`);
        break;
      case "unreserve":
        az.check(caller, "unreserve_resources", reservation?.principal ?? "", `unreserve resources reserved by '${reservation?.principal ?? ""}'`);
        break;
      case "create": {
        const persistence = r.disk?.persistence;
        if (persistence) persistence.principal = effectivePrincipal(security, caller, persistence.principal, `${what} persistence principal`);
        az.check(caller, "create_volumes", reservedRole(r), `create volumes in role '${reservedRole(r)}'`);
        break;
      }
      case "destroy": {
        const creator = r.disk?.persistence?.principal ?? "";
        az.check(caller, "destroy_volumes", creator, `destroy volumes created by '${creator}'`);
        break;
      }
    }
  });
}

/** A visibility filter for `caller` that knows every framework of the master. */
function visibleOf(core: MasterView, view: ViewPermissions): VisibleTo {
  const v = new VisibleTo(view);
  for (const f of core.frameworks.values()) v.learn(f.info);
  for (const info of core.completedFrameworks.values()) v.learn(info);
  return v;
}

/** Each unary call → its response's fields. */
function unaryCalls(o: OperatorServiceOptions, security: ServiceSecurity): Record<Unary, (request: never, caller: Caller) => Promise<object>> {
  const az = security.authorizer;
  /** Reads the master's records as `caller` may see them (view_frameworks, view_tasks, view_executors). */
  const read = <T>(caller: Caller, fn: (core: MasterView, visible: VisibleTo) => T): Promise<T> => {
    const view = viewPermissions(az, caller);
    return o.master.inspect((core) => fn(core, visibleOf(core, view)));
  };
  return {
    getHealth: async () => ({ healthy: true }),
    getVersion: async () => ({ version: o.version }),
    getState: (_r, c) => read(c, (core, v) => filterState(stateResponse(core, startedAt(o)), v.view, v)),
    getAgents: (_r, c) =>
      read(c, (core) => {
        const usage = new ClusterUsage(core);
        return { agents: [...core.agents.values()].filter(visibleAgent).map((a) => agentEntry(a, usage.agent(a.id), drainView(core, a.id))) };
      }),
    getFrameworks: (_r, c) =>
      read(c, (core, v) => {
        const usage = new ClusterUsage(core);
        return {
          frameworks: [...core.frameworks.values()].filter((f) => v.framework(f.id)).map((f) => frameworkEntry(f, usage.framework(f.id))),
          completedFrameworks: core.completedFrameworks.values().filter((info) => v.framework(info.id?.value)),
        };
      }),
    getTasks: (_r, c) =>
      read(c, (core, v) => {
        const g = taskGroups(core);
        const visible = (list: Task[]) => list.filter((t) => v.task(t));
        return { tasks: visible(g.tasks), unreachableTasks: visible(g.unreachable), completedTasks: visible(g.completed) };
      }),
    getExecutors: (_r, c) => read(c, (core, v) => ({ executors: executorsResponse(core).executors.filter((e) => v.executor(e.executorInfo)) })),
    teardown: async (r: { frameworkId?: { value: string } }, c) => {
      const id = r.frameworkId?.value ?? "";
      await o.master.teardownFramework(id, (principal) => az.check(c, "teardown_frameworks", principal, `tear down framework ${id} of principal '${principal}'`));
      return {};
    },
    getMetrics: async (_r, c) => (az.check(c, "get_endpoints", "/metrics/snapshot", "read the metrics"), { metrics: Object.entries(o.metrics.snapshot()).map(([name, value]) => ({ name, value })) }),
    getWeights: () => o.master.inspect((core) => ({ weightInfos: weights(core) })),
    updateWeights: async (r: { weightInfos: { role: string }[] }, c) => {
      for (const w of r.weightInfos) az.check(c, "update_weights", w.role, `update the weight of role '${w.role}'`);
      await o.master.updateWeights(r.weightInfos as never);
      return {};
    },
    getQuota: () => o.master.inspect((core) => ({ quotaInfos: quota(core), quotaConfigs: quotaConfigs(core) })),
    updateQuota: async (r: { quotaInfos: { role: string }[]; quotaConfigs: { role: string }[]; force: boolean }, c) => {
      for (const q of [...r.quotaInfos, ...r.quotaConfigs]) az.check(c, "update_quotas", q.role, `update the quota of role '${q.role}'`);
      await o.master.updateQuota(r.quotaInfos as never, r.quotaConfigs as never, r.force);
      return {};
    },
    getMaintenanceSchedule: (_r, c) => {
      az.check(c, "get_maintenance_schedules", EVERY, "read the maintenance schedule");
      return o.master.inspect((core) => ({ schedule: maintenanceSchedule(core) }));
    },
    getMaintenanceStatus: (_r, c) => {
      az.check(c, "get_maintenance_statuses", EVERY, "read the maintenance status");
      return o.master.inspect((core) => maintenanceStatus(core));
    },
    updateMaintenanceSchedule: async (r: { schedule?: { windows: { machineIds: { hostname: string; ip: string }[] }[] } }, c) => {
      for (const w of r.schedule?.windows ?? []) for (const m of w.machineIds) az.check(c, "update_maintenance_schedules", m.hostname || m.ip, `schedule maintenance of machine '${m.hostname || m.ip}'`);
      await o.master.updateMaintenanceSchedule(r.schedule as never);
      return {};
    },
    startMaintenance: async (r: { machines: MachineID[] }, c) => {
      for (const m of r.machines) az.check(c, "start_maintenances", m.hostname || m.ip, `take machine '${m.hostname || m.ip}' down`);
      await o.master.startMaintenance(r.machines);
      return {};
    },
    stopMaintenance: async (r: { machines: MachineID[] }, c) => {
      for (const m of r.machines) az.check(c, "stop_maintenances", m.hostname || m.ip, `bring machine '${m.hostname || m.ip}' up`);
      await o.master.stopMaintenance(r.machines);
      return {};
    },
    drainAgent: async (r: { agentId?: AgentID; maxGracePeriodSeconds?: number; markGone: boolean }, c) => {
      az.check(c, "drain_agents", r.agentId?.value ?? "", `drain agent '${r.agentId?.value ?? ""}'`);
      await o.master.drainAgent(r.agentId?.value ?? "", r.maxGracePeriodSeconds, r.markGone);
      return {};
    },
    deactivateAgent: async (r: { agentId?: AgentID }, c) => {
      az.check(c, "deactivate_agents", r.agentId?.value ?? "", `deactivate agent '${r.agentId?.value ?? ""}'`);
      await o.master.deactivateAgent(r.agentId?.value ?? "");
      return {};
    },
    reactivateAgent: async (r: { agentId?: AgentID }, c) => {
      az.check(c, "reactivate_agents", r.agentId?.value ?? "", `reactivate agent '${r.agentId?.value ?? ""}'`);
      await o.master.reactivateAgent(r.agentId?.value ?? "");
      return {};
    },
    reserveResources: (r: ResourcesRequest, c) => operate(o, security, c, "reserve", r.agentId?.value, r.resources),
    unreserveResources: (r: ResourcesRequest, c) => operate(o, security, c, "unreserve", r.agentId?.value, r.resources),
    createVolumes: (r: VolumesRequest, c) => operate(o, security, c, "create", r.agentId?.value, r.volumes),
    destroyVolumes: (r: VolumesRequest, c) => operate(o, security, c, "destroy", r.agentId?.value, r.volumes),
  };
}

type ResourcesRequest = { agentId?: AgentID; resources: Resource[] };
type VolumesRequest = { agentId?: AgentID; volumes: Resource[] };

async function operate(
  o: OperatorServiceOptions,
  security: ServiceSecurity,
  caller: Caller,
  operation: ResourceOperation,
  agentId: string | undefined,
  resources: readonly Resource[],
): Promise<object> {
  authorizeOperation(security, caller, operation, resources);
  await o.master.operateResources({ operation, agentId: agentId ?? "", resources });
  return {};
}

function subscribeHandler(o: OperatorServiceOptions, security: ServiceSecurity): grpc.handleServerStreamingCall<Message, Message> {
  const heartbeatMs = (o.heartbeatSeconds ?? 15) * 1000;
  return (call) => {
    const view = viewPermissions(security.authorizer, callerOf(call));
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
      .inspect((core) => {
        const visible = visibleOf(core, view);
        const state = filterState(stateResponse(core, startedAt(o)), view, visible);
        return { subscription: new BusSubscription(o.master.master.events), state, sequence: o.master.master.events.lastSequence, events: new EventVisibility(state, visible) };
      })
      .then(({ subscription: s, state, sequence: seq, events }) => {
        subscription = s;
        sequence = seq;
        if (call.cancelled) return end();
        write(create(ClusterEventSchema, { sequence, timestamp: Date.now() / 1000, kind: { case: "subscribed", value: { getState: state, heartbeatIntervalSeconds: heartbeatMs / 1000 } } }));
        s.start({
          deliver: (e) => {
            sequence = e.sequence;
            return events.sees(e) ? write(e) : call.writableLength;
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
  const security = o.security ?? openSecurity(o.metrics);
  const handlers: grpc.UntypedServiceImplementation = { subscribe: subscribeHandler(o, security) as grpc.UntypedHandleCall };
  for (const [name, fn] of Object.entries(unaryCalls(o, security)) as [Unary, (r: never, c: Caller) => Promise<object>][]) {
    const output = OperatorService.method[name].output;
    handlers[name] = ((call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>) => {
      Promise.resolve()
        .then(() => fn(call.request as never, callerOf(call)))
        .then(
          (fields) => callback(null, create(output, fields as never) as Message),
          (err: unknown) => callback(toStatus(err)),
        );
    }) as grpc.UntypedHandleCall;
  }
  addGuardedService(server, OperatorService, handlers, { authenticator: security.authenticator, maxRequestBytes: security.maxRequestBytes, metrics: o.metrics });
}
