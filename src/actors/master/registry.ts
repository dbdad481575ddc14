/**
 * The registry: what the master must not forget across a failover (admitted agents,
 * frameworks, weights). Every change goes through `Registrar.apply` as one typed
 * operation; the master continues when the promise resolves (re-entering its actor).
 * The in-memory registrar is the single-master implementation; the replicated one will
 * append the same operations to the Raft log and apply them from committed entries.
 *
 * `applyOperation` is the one switch that changes a RegistryState, and depends on the
 * operation only (never the clock), so replaying a log rebuilds the same state.
 */
import { clone as protoClone, create } from "@bufbuild/protobuf";
import { AgentInfoSchema, DrainInfoSchema, MachineIDSchema, MaintenanceScheduleSchema, type MachineID, type MaintenanceSchedule, FrameworkInfoSchema, QuotaInfoSchema, type AgentInfo, type DrainInfo, type FrameworkInfo, type QuotaInfo } from "../../gen/dcos/v1/cluster_pb.js";
import type { Task } from "../../gen/dcos/v1/tasks_pb.js";
import { Code, DcosError } from "../../runtime/error.js";

export type RegistryOperation =
  | { kind: "admitAgent"; agentId: string; info: AgentInfo }
  /** Agents admitted in one entry (a registration storm); all or none. */
  | { kind: "admitAgents"; agents: readonly { agentId: string; info: AgentInfo }[] }
  | { kind: "markAgentReachable"; agentId: string; info: AgentInfo }
  | { kind: "markAgentUnreachable"; agentId: string; unreachableAtMs: number }
  /** markAgentReachable and markAgentUnreachable of several agents in one entry; all or none. */
  | {
      kind: "markAgents";
      reachable: readonly { agentId: string; info: AgentInfo }[];
      unreachable: readonly { agentId: string; unreachableAtMs: number }[];
    }
  | { kind: "markAgentGone"; agentId: string }
  | { kind: "removeAgent"; agentId: string }
  | { kind: "addFramework"; info: FrameworkInfo }
  | { kind: "updateFramework"; info: FrameworkInfo }
  | { kind: "removeFramework"; frameworkId: string }
  | { kind: "updateWeights"; weights: ReadonlyMap<string, number> }
  /** Sets each role's quota; a QuotaInfo with neither guarantees nor limits removes it. */
  | { kind: "updateQuota"; quotas: readonly QuotaInfo[] }
  /** A task ended (terminal update acknowledged): into the bounded completed-task history. */
  | { kind: "completeTask"; task: Task }
  /** An agent's deactivation and drain; neither (not deactivated, no drain info) restores it. */
  | { kind: "updateAgentDrain"; drain: AgentDrain }
  /** Replaces the maintenance schedule. */
  | { kind: "updateMaintenanceSchedule"; schedule: MaintenanceSchedule }
  /** Machines taken down by the operator (START_MAINTENANCE): DOWN until brought up. */
  | { kind: "startMaintenance"; machines: readonly MachineID[] }
  /** Machines brought up (STOP_MAINTENANCE): no longer down, and out of the schedule. */
  | { kind: "stopMaintenance"; machines: readonly MachineID[] };

/** An agent the operator deactivated or drains. */
export interface AgentDrain {
  readonly agentId: string;
  readonly deactivated: boolean;
  readonly drainInfo?: DrainInfo;
}

/** How many completed tasks the registry keeps (the master's /state history holds as many). */
export const COMPLETED_TASKS_KEPT = 1000;

export interface RegistryState {
  /** Admitted, reachable agents. */
  readonly agents: Map<string, AgentInfo>;
  /** Agents marked unreachable, with when. */
  readonly unreachable: Map<string, { info: AgentInfo; unreachableAtMs: number }>;
  /** Agents an operator marked gone: they may never come back under that id. */
  readonly gone: Set<string>;
  readonly frameworks: Map<string, FrameworkInfo>;
  /** Frameworks torn down: their ids may not be reused. */
  readonly removedFrameworks: Set<string>;
  readonly weights: Map<string, number>;
  readonly quotas: Map<string, QuotaInfo>;
  /** The newest completed tasks, oldest first (at most COMPLETED_TASKS_KEPT). */
  readonly completedTasks: Task[];
  /** Agents deactivated, draining or drained, by id. */
  readonly drains: Map<string, AgentDrain>;
  /** The maintenance schedule (windows past, present and ahead). */
  maintenance: MaintenanceSchedule;
  /** Machines the operator took down (as in the schedule: hostname and ip), until brought up. */
  downMachines: MachineID[];
}

function sameMachine(a: MachineID, b: MachineID): boolean {
  return a.hostname === b.hostname && a.ip === b.ip;
}

export function emptyRegistry(): RegistryState {
  return { agents: new Map(), unreachable: new Map(), gone: new Set(), frameworks: new Map(), removedFrameworks: new Set(), weights: new Map(), quotas: new Map(), completedTasks: [], drains: new Map(), maintenance: create(MaintenanceScheduleSchema), downMachines: [] };
}

/** Applies one operation; throws FAILED_PRECONDITION when it does not fit the state. */
export function applyOperation(state: RegistryState, op: RegistryOperation, owned = false): void {
  // Messages the registry keeps are its own: copied, unless the caller hands them over
  // (`owned`: the Raft registry decodes each entry afresh, and a copy of every AgentInfo of
  // a 500-agent admission doubled the time a member's loop spent applying it).
  const clone: typeof protoClone = owned ? (_schema, message) => message : protoClone;
  switch (op.kind) {
    case "admitAgent":
      if (state.agents.has(op.agentId) || state.gone.has(op.agentId)) {
        throw new DcosError(Code.FAILED_PRECONDITION, `Cannot admit agent ${op.agentId}: the id is already in the registry`);
      }
      state.agents.set(op.agentId, clone(AgentInfoSchema, op.info));
      return;
    case "admitAgents": {
      // Checked whole before any is admitted: all or none.
      const ids = new Set<string>();
      for (const a of op.agents) {
        if (state.agents.has(a.agentId) || state.gone.has(a.agentId) || ids.has(a.agentId)) {
          throw new DcosError(Code.FAILED_PRECONDITION, `Cannot admit ${op.agents.length} agents: the id ${a.agentId} is already in the registry or twice in the entry`);
        }
        ids.add(a.agentId);
      }
      for (const a of op.agents) state.agents.set(a.agentId, clone(AgentInfoSchema, a.info));
      return;
    }
    case "markAgentReachable":
      if (state.gone.has(op.agentId)) throw new DcosError(Code.FAILED_PRECONDITION, `Agent ${op.agentId} was marked gone`);
      state.unreachable.delete(op.agentId);
      state.agents.set(op.agentId, clone(AgentInfoSchema, op.info));
      return;
    case "markAgentUnreachable": {
      const info = state.agents.get(op.agentId);
      if (!info) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot mark agent ${op.agentId} unreachable: not admitted`);
      state.agents.delete(op.agentId);
      state.unreachable.set(op.agentId, { info, unreachableAtMs: op.unreachableAtMs });
      return;
    }
    case "markAgents": {
      // Checked whole before any is applied: all or none.
      const ids = new Set<string>();
      const once = (id: string): void => {
        if (ids.has(id)) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot change ${ids.size + 1} agents: ${id} is twice in the entry`);
        ids.add(id);
      };
      for (const a of op.reachable) {
        once(a.agentId);
        if (state.gone.has(a.agentId)) throw new DcosError(Code.FAILED_PRECONDITION, `Agent ${a.agentId} was marked gone`);
      }
      for (const a of op.unreachable) {
        once(a.agentId);
        if (!state.agents.has(a.agentId)) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot mark agent ${a.agentId} unreachable: not admitted`);
      }
      for (const a of op.reachable) applyOperation(state, { kind: "markAgentReachable", agentId: a.agentId, info: a.info }, owned);
      for (const a of op.unreachable) applyOperation(state, { kind: "markAgentUnreachable", agentId: a.agentId, unreachableAtMs: a.unreachableAtMs }, owned);
      return;
    }
    case "markAgentGone":
      state.agents.delete(op.agentId);
      state.unreachable.delete(op.agentId);
      state.gone.add(op.agentId);
      return;
    case "removeAgent":
      state.agents.delete(op.agentId);
      state.unreachable.delete(op.agentId);
      return;
    case "addFramework": {
      const id = op.info.id?.value ?? "";
      if (!id) throw new DcosError(Code.INVALID_ARGUMENT, "Cannot add a framework without an id to the registry");
      if (state.removedFrameworks.has(id)) throw new DcosError(Code.FAILED_PRECONDITION, `Framework ${id} was removed`);
      state.frameworks.set(id, clone(FrameworkInfoSchema, op.info));
      return;
    }
    case "updateFramework": {
      const id = op.info.id?.value ?? "";
      if (!state.frameworks.has(id)) throw new DcosError(Code.FAILED_PRECONDITION, `Cannot update framework ${id}: not in the registry`);
      state.frameworks.set(id, clone(FrameworkInfoSchema, op.info));
      return;
    }
    case "removeFramework":
      state.frameworks.delete(op.frameworkId);
      state.removedFrameworks.add(op.frameworkId);
      return;
    case "updateWeights":
      for (const [role, w] of op.weights) state.weights.set(role, w);
      return;
    case "updateQuota":
      for (const q of op.quotas) {
        if (q.guarantees.length === 0 && q.limits.length === 0) state.quotas.delete(q.role);
        else state.quotas.set(q.role, clone(QuotaInfoSchema, q));
      }
      return;
    case "completeTask":
      state.completedTasks.push(op.task);
      if (state.completedTasks.length > COMPLETED_TASKS_KEPT) state.completedTasks.splice(0, state.completedTasks.length - COMPLETED_TASKS_KEPT);
      return;
    case "updateMaintenanceSchedule":
      state.maintenance = clone(MaintenanceScheduleSchema, op.schedule);
      return;
    case "startMaintenance":
      for (const m of op.machines) if (!state.downMachines.some((d) => sameMachine(d, m))) state.downMachines.push(clone(MachineIDSchema, m));
      return;
    case "stopMaintenance": {
      const up = (m: MachineID): boolean => op.machines.some((u) => sameMachine(u, m));
      state.downMachines = state.downMachines.filter((m) => !up(m));
      const windows = state.maintenance.windows.map((w) => ({ ...w, machineIds: w.machineIds.filter((m) => !up(m)) })).filter((w) => w.machineIds.length > 0);
      state.maintenance = create(MaintenanceScheduleSchema, { windows });
      return;
    }
    case "updateAgentDrain":
      if (!op.drain.deactivated && !op.drain.drainInfo) state.drains.delete(op.drain.agentId);
      else state.drains.set(op.drain.agentId, { agentId: op.drain.agentId, deactivated: op.drain.deactivated, drainInfo: op.drain.drainInfo && clone(DrainInfoSchema, op.drain.drainInfo) });
      return;
  }
}

export interface Registrar {
  /** Makes the operation durable and applies it; resolves once it is. */
  apply(op: RegistryOperation): Promise<void>;
  /** The registry as of the last applied operation (read at master start for recovery). */
  state(): RegistryState;
}

/** A registrar that keeps the registry in memory (single master, nothing survives a restart). */
export class InMemoryRegistrar implements Registrar {
  private readonly registry = emptyRegistry();
  /** Operations applied, in order (tests read it; the Raft registrar will append them). */
  readonly applied: RegistryOperation[] = [];

  async apply(op: RegistryOperation): Promise<void> {
    applyOperation(this.registry, op);
    this.applied.push(op);
  }

  state(): RegistryState {
    return this.registry;
  }
}
