/**
 * The master's /state in the shapes Mesos operators' tools read
 * (agents are "slaves" there, ids are "id", times are seconds since the epoch), built from
 * the Operator API's GetStateResponse so both views agree.
 */
import { DrainState, FrameworkInfo_Capability, type DrainInfo, type MachineID, type FrameworkInfo, type MasterInfo } from "../gen/dcos/v1/cluster_pb.js";
import type { Attribute, Labels } from "../gen/dcos/v1/common_pb.js";
import { Value_Type } from "../gen/dcos/v1/common_pb.js";
import type { Offer } from "../gen/dcos/v1/offers_pb.js";
import { AgentEntry_Status, InverseOfferStatus_Status, type AgentEntry, type FrameworkEntry, type GetMaintenanceStatusResponse, type GetStateResponse } from "../gen/dcos/v1/operator_pb.js";
import type { Task, TaskStatus } from "../gen/dcos/v1/tasks_pb.js";
import { reservedFullJson, reservedJson, resourcesJson } from "./resources-json.js";
import { taskStateName } from "../actors/task-states.js";

export interface MasterJsonContext {
  cluster: string;
  /** The master's flags as given (strings, as Mesos shows them). */
  flags: Record<string, string>;
  /** The leading master (this one while masters are not replicated). */
  leader: MasterInfo | undefined;
  /** When this master was elected (seconds since the epoch). */
  electedTime: number;
}

type Json = Record<string, unknown>;

export function attributesJson(attributes: readonly Attribute[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const a of attributes) {
    if (a.type === Value_Type.SCALAR) out[a.name] = a.scalar?.value ?? 0;
    else if (a.type === Value_Type.RANGES) out[a.name] = `[${(a.ranges?.range ?? []).map((r) => `${r.begin}-${r.end}`).join(", ")}]`;
    else if (a.type === Value_Type.SET) out[a.name] = `{${(a.set?.item ?? []).join(", ")}}`;
    else out[a.name] = a.text?.value ?? "";
  }
  return out;
}

function labelsJson(labels: Labels | undefined): Json[] | undefined {
  return labels && labels.labels.length > 0 ? labels.labels.map((l) => ({ key: l.key, value: l.value })) : undefined;
}

function statusJson(s: TaskStatus): Json {
  const out: Json = { state: taskStateName(s.state), timestamp: s.timestamp };
  if (s.message) out.message = s.message;
  if (s.healthy !== undefined) out.healthy = s.healthy;
  return out;
}

export function taskJson(t: Task): Json {
  const out: Json = {
    id: t.taskId?.value ?? "",
    name: t.name,
    framework_id: t.frameworkId?.value ?? "",
    executor_id: t.executorId?.value ?? "",
    slave_id: t.agentId?.value ?? "",
    state: taskStateName(t.state),
    resources: resourcesJson(t.resources),
    role: t.role,
    statuses: t.statuses.map(statusJson),
  };
  const labels = labelsJson(t.labels);
  if (labels) out.labels = labels;
  return out;
}

function offerJson(o: Offer): Json {
  return { id: o.id?.value ?? "", framework_id: o.frameworkId?.value ?? "", slave_id: o.agentId?.value ?? "", resources: resourcesJson(o.resources) };
}

function capabilityNames(info: FrameworkInfo): string[] {
  return info.capabilities.map((c) => FrameworkInfo_Capability[c] ?? String(c));
}

export function agentJson(a: AgentEntry): Json {
  const info = a.agentInfo!;
  return {
    id: info.id?.value ?? "",
    pid: info.pid,
    hostname: info.hostname,
    port: info.port,
    registered_time: a.registeredTime,
    active: a.status === AgentEntry_Status.ACTIVE,
    attributes: attributesJson(info.attributes),
    resources: resourcesJson(a.totalResources),
    used_resources: resourcesJson(a.allocatedResources),
    offered_resources: resourcesJson(a.offeredResources),
    reserved_resources: reservedJson(a.totalResources),
    reserved_resources_full: reservedFullJson(a.totalResources),
    unreserved_resources: resourcesJson(a.totalResources.filter((r) => r.reservations.length === 0)),
    deactivated: a.deactivated,
    ...(a.drainInfo ? { drain_info: drainInfoJson(a.drainInfo) } : {}),
  };
}

/** Machines with maintenance ahead (and who agreed) and machines down, as Mesos's /maintenance/status. */
export function maintenanceJson(s: GetMaintenanceStatusResponse | undefined): Json {
  const machine = (m: MachineID | undefined): Json => ({ hostname: m?.hostname ?? "", ip: m?.ip ?? "" });
  const ns = (seconds: number): Json => ({ nanoseconds: Math.round(seconds * 1e9) });
  return {
    draining_machines: (s?.drainingMachines ?? []).map((d) => ({
      id: machine(d.id),
      unavailability: { start: ns(d.unavailability?.startSeconds ?? 0), duration: ns(d.unavailability?.durationSeconds ?? 0) },
      statuses: d.statuses.map((st) => ({
        framework_id: st.frameworkId?.value ?? "",
        agent_id: st.agentId?.value ?? "",
        status: InverseOfferStatus_Status[st.status] === "UNSPECIFIED" ? "UNKNOWN" : InverseOfferStatus_Status[st.status],
        timestamp: st.timestamp,
      })),
    })),
    down_machines: (s?.downMachines ?? []).map(machine),
  };
}

/** Mesos's shape: {"state": "DRAINING", "config": {"max_grace_period": {"nanoseconds": …}, "mark_gone": false}}. */
function drainInfoJson(d: DrainInfo): Json {
  const grace = d.config?.maxGracePeriodSeconds;
  return {
    state: DrainState[d.state] ?? "UNKNOWN",
    config: { mark_gone: d.config?.markGone ?? false, ...(grace === undefined ? {} : { max_grace_period: { nanoseconds: Math.round(grace * 1e9) } }) },
  };
}

export function frameworkInfoJson(info: FrameworkInfo): Json {
  return {
    id: info.id?.value ?? "",
    name: info.name,
    user: info.user,
    roles: [...info.roles],
    role: info.roles[0] ?? "*",
    principal: info.principal,
    hostname: info.hostname,
    webui_url: info.webuiUrl,
    failover_timeout: info.failoverTimeout,
    checkpoint: info.checkpoint,
    capabilities: capabilityNames(info),
  };
}

type TaskList = Json[];

/** Tasks by framework id, for nesting them under their frameworks as Mesos does. */
function byFramework(tasks: readonly Task[]): Map<string, TaskList> {
  const out = new Map<string, TaskList>();
  for (const t of tasks) {
    const id = t.frameworkId?.value ?? "";
    let list = out.get(id);
    if (!list) out.set(id, (list = []));
    list.push(taskJson(t));
  }
  return out;
}

/** A framework's fields before its task lists (tasks, unreachable_tasks, completed_tasks). */
export function frameworkHeadJson(f: FrameworkEntry): Json {
  const used = resourcesJson(f.allocatedResources);
  return {
    ...frameworkInfoJson(f.frameworkInfo!),
    active: f.active,
    connected: f.connected,
    recovered: false,
    registered_time: f.registeredTime,
    suppressed_roles: f.suppressedRoles,
    resources: used,
    used_resources: used,
    allocated_resources: used,
    offered_resources: resourcesJson(f.offeredResources),
  };
}

/** A framework's fields after its task lists. */
export function frameworkTailJson(f: FrameworkEntry): Json {
  return { offers: f.offers.map(offerJson), labels: labelsJson(f.frameworkInfo!.labels) ?? [] };
}

/** A removed framework's fields before its completed tasks. */
export function completedFrameworkHeadJson(info: FrameworkInfo): Json {
  return { ...frameworkInfoJson(info), active: false, tasks: [] };
}

function frameworkJson(f: FrameworkEntry, tasks: Map<string, TaskList>, unreachable: Map<string, TaskList>, completed: Map<string, TaskList>): Json {
  const id = f.frameworkInfo!.id?.value ?? "";
  return { ...frameworkHeadJson(f), tasks: tasks.get(id) ?? [], unreachable_tasks: unreachable.get(id) ?? [], completed_tasks: completed.get(id) ?? [], ...frameworkTailJson(f) };
}

export function masterFields(state: Pick<GetStateResponse, "masterInfo" | "startTime" | "stateVersion">, ctx: MasterJsonContext): Json {
  const m = state.masterInfo!;
  const leader = ctx.leader;
  return {
    version: m.version,
    id: m.id,
    pid: m.pid,
    hostname: m.hostname,
    cluster: ctx.cluster,
    start_time: state.startTime,
    elected_time: ctx.electedTime,
    leader: leader?.pid ?? "",
    leader_info: leader ? { id: leader.id, pid: leader.pid, hostname: leader.hostname, port: leader.port, version: leader.version } : undefined,
    state_version: Number(state.stateVersion),
  };
}

/** The agents counted as /state counts them. */
export interface SlaveCounts {
  activated: number;
  deactivated: number;
  unreachable: number;
}

/** /state's first fields (the master's, the agent counts, the flags), before "slaves". */
export function stateHeadJson(state: Pick<GetStateResponse, "masterInfo" | "startTime" | "stateVersion">, ctx: MasterJsonContext, counts: SlaveCounts): Json {
  return {
    ...masterFields(state, ctx),
    activated_slaves: counts.activated,
    deactivated_slaves: counts.deactivated,
    unreachable_slaves: counts.unreachable,
    flags: ctx.flags,
  };
}

/**
 * GET /state, built whole (state-fragments.ts assembles the same bytes from kept
 * fragments; the keys' order here is the order it writes them in).
 */
export function masterStateJson(state: GetStateResponse, ctx: MasterJsonContext): Json {
  const agents = state.getAgents?.agents ?? [];
  const t = state.getTasks!;
  const tasks = byFramework(t.tasks);
  const unreachable = byFramework(t.unreachableTasks);
  const completed = byFramework(t.completedTasks);
  const frameworks = state.getFrameworks?.frameworks ?? [];
  const known = new Set(frameworks.map((f) => f.frameworkInfo?.id?.value ?? ""));
  const counts: SlaveCounts = {
    activated: agents.filter((a) => a.status === AgentEntry_Status.ACTIVE).length,
    deactivated: agents.filter((a) => a.deactivated).length,
    unreachable: agents.filter((a) => a.status === AgentEntry_Status.UNREACHABLE).length,
  };
  return {
    ...stateHeadJson(state, ctx, counts),
    slaves: agents.map(agentJson),
    maintenance_status: maintenanceJson(state.maintenanceStatus),
    frameworks: frameworks.map((f) => frameworkJson(f, tasks, unreachable, completed)),
    completed_frameworks: (state.getFrameworks?.completedFrameworks ?? []).map((info) => ({
      ...completedFrameworkHeadJson(info),
      completed_tasks: completed.get(info.id?.value ?? "") ?? [],
    })),
    orphan_tasks: t.tasks.filter((x) => !known.has(x.frameworkId?.value ?? "")).map(taskJson),
    unregistered_frameworks: [],
  };
}
