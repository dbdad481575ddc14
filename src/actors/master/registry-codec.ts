/**
 * Registry operations as Raft log entries (dcos.v1.RegistryCommand) and the registry as a
 * snapshot (dcos.v1.RegistrySnapshot). The codec is a bijection on what the registry
 * keeps; `applyOperation` stays the one switch that changes a registry.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  WeightInfoSchema,
  type AgentInfo,
  type FrameworkInfo,
  type MachineID,
  type MaintenanceSchedule,
  type MasterInfo,
  type QuotaInfo,
} from "../../gen/dcos/v1/cluster_pb.js";
import type { Task } from "../../gen/dcos/v1/tasks_pb.js";
import {
  RegistryAgentDrainSchema,
  RegistryCommandSchema,
  RegistryMachinesSchema,
  RegistrySnapshotSchema,
  type RegistryAgentDrain,
  type RegistryCommand,
  type RegistrySnapshot,
} from "../../gen/dcos/v1/registry_pb.js";
import type { FrameworkLogCommand } from "../../gen/dcos/v1/replicated_log_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { protoDecoder, protoEncoder } from "../../runtime/proto-codec.js";
import { emptyRegistry, type AgentDrain, type RegistryOperation, type RegistryState } from "./registry.js";
import { joinPieces, repeatedField } from "../../raft/snapshot-pieces.js";
import type { SnapshotPieces } from "../../raft/state-machine.js";

type CommandCase = RegistryCommand["command"];

function commandOf(op: RegistryOperation): CommandCase {
  switch (op.kind) {
    case "admitAgent":
      return { case: "admitAgent", value: { $typeName: "dcos.v1.RegistryAgent", agentId: op.agentId, info: op.info } };
    case "admitAgents":
      return {
        case: "admitAgents",
        value: { $typeName: "dcos.v1.RegistryAgents", agents: op.agents.map((a) => ({ $typeName: "dcos.v1.RegistryAgent", agentId: a.agentId, info: a.info })) },
      };
    case "markAgentReachable":
      return { case: "markAgentReachable", value: { $typeName: "dcos.v1.RegistryAgent", agentId: op.agentId, info: op.info } };
    case "markAgentUnreachable":
      return {
        case: "markAgentUnreachable",
        value: { $typeName: "dcos.v1.RegistryUnreachableAgent", agentId: op.agentId, unreachableAtMs: BigInt(Math.round(op.unreachableAtMs)) },
      };
    case "markAgents":
      return {
        case: "agentChanges",
        value: {
          $typeName: "dcos.v1.RegistryAgentChanges",
          reachable: op.reachable.map((a) => ({ $typeName: "dcos.v1.RegistryAgent", agentId: a.agentId, info: a.info })),
          unreachable: op.unreachable.map((a) => ({ $typeName: "dcos.v1.RegistryUnreachableAgent", agentId: a.agentId, unreachableAtMs: BigInt(Math.round(a.unreachableAtMs)) })),
        },
      };
    case "markAgentGone":
      return { case: "markAgentGone", value: op.agentId };
    case "removeAgent":
      return { case: "removeAgent", value: op.agentId };
    case "addFramework":
      return { case: "addFramework", value: op.info };
    case "updateFramework":
      return { case: "updateFramework", value: op.info };
    case "removeFramework":
      return { case: "removeFramework", value: op.frameworkId };
    case "updateWeights":
      return {
        case: "updateWeights",
        value: { $typeName: "dcos.v1.RegistryWeights", weights: [...op.weights].map(([role, weight]) => create(WeightInfoSchema, { role, weight })) },
      };
    case "updateQuota":
      return { case: "updateQuota", value: { $typeName: "dcos.v1.RegistryQuotas", quotas: [...op.quotas] } };
    case "completeTask":
      return { case: "completeTask", value: op.task };
    case "updateAgentDrain":
      return { case: "updateAgentDrain", value: drainMessage(op.drain) };
    case "updateMaintenanceSchedule":
      return { case: "updateMaintenanceSchedule", value: op.schedule };
    case "startMaintenance":
    case "stopMaintenance":
      return { case: op.kind, value: create(RegistryMachinesSchema, { machines: [...op.machines] }) };
  }
}

function drainMessage(d: AgentDrain): RegistryAgentDrain {
  return create(RegistryAgentDrainSchema, { agentId: d.agentId, deactivated: d.deactivated, drainInfo: d.drainInfo });
}

function drainOf(m: RegistryAgentDrain): AgentDrain {
  return { agentId: m.agentId, deactivated: m.deactivated, drainInfo: m.drainInfo };
}

/** Registry commands through the generated codecs (each member decodes every entry it applies). */
const encodeRegistryCommand = protoEncoder(RegistryCommandSchema);
const decodeRegistryCommand = protoDecoder(RegistryCommandSchema);

/** The Raft entry of an operation proposed by the master elected in `term`. */
export function encodeOperation(op: RegistryOperation, term: number): Uint8Array {
  return encodeRegistryCommand(create(RegistryCommandSchema, { term: BigInt(term), command: commandOf(op) }));
}

/** The Raft entry a newly elected master writes first. */
export function encodeElected(master: MasterInfo, term: number): Uint8Array {
  return encodeRegistryCommand(create(RegistryCommandSchema, { term: BigInt(term), command: { case: "elected", value: master } }));
}

export type DecodedCommand =
  | { term: number; elected: MasterInfo }
  | { term: number; op: RegistryOperation }
  | { term: number; frameworkLog: FrameworkLogCommand };

/** The Raft entry of a change to a framework's replicated log (not term-fenced). */
export function encodeFrameworkLogCommand(cmd: FrameworkLogCommand): Uint8Array {
  return encodeRegistryCommand(create(RegistryCommandSchema, { command: { case: "frameworkLog", value: cmd } }));
}

function missing(what: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, `Registry command ${what} is missing its agent info`);
}

/** Decodes a Raft entry; INVALID_ARGUMENT when it is not a registry command. */
export function decodeCommand(bytes: Uint8Array): DecodedCommand {
  let cmd: RegistryCommand;
  try {
    cmd = decodeRegistryCommand(bytes);
  } catch (err) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Cannot decode a registry command: ${(err as Error).message}`, { cause: err });
  }
  const term = Number(cmd.term);
  const c = cmd.command;
  switch (c.case) {
    case "elected":
      return { term, elected: c.value };
    case "admitAgent":
    case "markAgentReachable":
      if (!c.value.info) throw missing(c.case);
      return { term, op: { kind: c.case, agentId: c.value.agentId, info: c.value.info } };
    case "admitAgents":
      return {
        term,
        op: {
          kind: "admitAgents",
          agents: c.value.agents.map((a) => {
            if (!a.info) throw missing(c.case);
            return { agentId: a.agentId, info: a.info };
          }),
        },
      };
    case "markAgentUnreachable":
      return { term, op: { kind: "markAgentUnreachable", agentId: c.value.agentId, unreachableAtMs: Number(c.value.unreachableAtMs) } };
    case "agentChanges":
      return {
        term,
        op: {
          kind: "markAgents",
          reachable: c.value.reachable.map((a) => {
            if (!a.info) throw missing(c.case);
            return { agentId: a.agentId, info: a.info };
          }),
          unreachable: c.value.unreachable.map((a) => ({ agentId: a.agentId, unreachableAtMs: Number(a.unreachableAtMs) })),
        },
      };
    case "markAgentGone":
    case "removeAgent":
      return { term, op: { kind: c.case, agentId: c.value } };
    case "addFramework":
    case "updateFramework":
      return { term, op: { kind: c.case, info: c.value } };
    case "removeFramework":
      return { term, op: { kind: "removeFramework", frameworkId: c.value } };
    case "updateWeights":
      return { term, op: { kind: "updateWeights", weights: new Map(c.value.weights.map((w) => [w.role, w.weight])) } };
    case "updateQuota":
      return { term, op: { kind: "updateQuota", quotas: c.value.quotas } };
    case "completeTask":
      return { term, op: { kind: "completeTask", task: c.value } };
    case "updateAgentDrain":
      return { term, op: { kind: "updateAgentDrain", drain: drainOf(c.value) } };
    case "updateMaintenanceSchedule":
      return { term, op: { kind: "updateMaintenanceSchedule", schedule: c.value } };
    case "startMaintenance":
    case "stopMaintenance":
      return { term, op: { kind: c.case, machines: c.value.machines } };
    case "frameworkLog":
      return { term, frameworkLog: c.value };
    case undefined:
      throw new DcosError(Code.INVALID_ARGUMENT, "Registry command is empty");
  }
}

/**
 * The registry as a snapshot captured it: its collections copied (a copy of the keys and
 * references; applyOperation replaces stored values, never changes them in place).
 */
export interface RegistryView {
  leaderTerm: number;
  leader: MasterInfo | undefined;
  agents: [string, AgentInfo][];
  unreachable: [string, { info: AgentInfo; unreachableAtMs: number }][];
  gone: string[];
  frameworks: FrameworkInfo[];
  removedFrameworks: string[];
  weights: [string, number][];
  quotas: QuotaInfo[];
  completedTasks: Task[];
  drains: AgentDrain[];
  maintenance: MaintenanceSchedule;
  downMachines: MachineID[];
}

export function registryView(state: RegistryState, leaderTerm: number, leader: MasterInfo | undefined): RegistryView {
  return {
    leaderTerm,
    leader,
    agents: [...state.agents],
    unreachable: [...state.unreachable],
    gone: [...state.gone],
    frameworks: [...state.frameworks.values()],
    removedFrameworks: [...state.removedFrameworks],
    weights: [...state.weights],
    quotas: [...state.quotas.values()],
    completedTasks: [...state.completedTasks],
    drains: [...state.drains.values()],
    maintenance: state.maintenance,
    downMachines: [...state.downMachines],
  };
}

/**
 * A RegistrySnapshot (all but framework_logs) in pieces of a few hundred elements, in
 * field order: the bytes toBinary writes for the whole message.
 */
export function* registryPieces(v: RegistryView): SnapshotPieces {
  const S = RegistrySnapshotSchema;
  yield toBinary(S, create(S, { leaderTerm: BigInt(v.leaderTerm), leader: v.leader }));
  yield* repeatedField(S, v.agents, (slice) => ({ agents: slice.map(([agentId, info]) => ({ agentId, info })) }));
  yield* repeatedField(S, v.unreachable, (slice) => ({
    unreachable: slice.map(([agentId, u]) => ({ agentId, info: u.info, unreachableAtMs: BigInt(Math.round(u.unreachableAtMs)) })),
  }));
  yield* repeatedField(S, v.gone, (goneAgents) => ({ goneAgents }), 4096);
  yield* repeatedField(S, v.frameworks, (frameworks) => ({ frameworks }));
  yield* repeatedField(S, v.removedFrameworks, (removedFrameworks) => ({ removedFrameworks }), 4096);
  yield* repeatedField(S, v.weights, (slice) => ({ weights: slice.map(([role, weight]) => ({ role, weight })) }));
  yield* repeatedField(S, v.quotas, (quotas) => ({ quotas }));
  yield* repeatedField(S, v.completedTasks, (completedTasks) => ({ completedTasks }));
  yield* repeatedField(S, v.drains, (slice) => ({ agentDrains: slice.map(drainMessage) }));
  yield toBinary(S, create(S, { maintenanceSchedule: v.maintenance }));
  yield* repeatedField(S, v.downMachines, (downMachines) => ({ downMachines }));
}

/** The registry (and the last elected master) as a snapshot. */
export function encodeRegistry(state: RegistryState, leaderTerm: number, leader: MasterInfo | undefined): Uint8Array {
  return joinPieces(registryPieces(registryView(state, leaderTerm, leader)));
}

export interface DecodedRegistry {
  state: RegistryState;
  leaderTerm: number;
  leader: MasterInfo | undefined;
}

export function decodeRegistry(bytes: Uint8Array): DecodedRegistry {
  let s: RegistrySnapshot;
  try {
    s = fromBinary(RegistrySnapshotSchema, bytes);
  } catch (err) {
    throw new DcosError(Code.DATA_LOSS, `Cannot decode the registry snapshot: ${(err as Error).message}`, { cause: err });
  }
  return registryOf(s);
}

/** The registry held by a decoded snapshot (it keeps the snapshot's messages). */
export function registryOf(s: RegistrySnapshot): DecodedRegistry {
  const state = emptyRegistry();
  for (const a of s.agents) if (a.info) state.agents.set(a.agentId, a.info);
  for (const u of s.unreachable) if (u.info) state.unreachable.set(u.agentId, { info: u.info, unreachableAtMs: Number(u.unreachableAtMs) });
  for (const id of s.goneAgents) state.gone.add(id);
  for (const f of s.frameworks) state.frameworks.set(f.id?.value ?? "", f);
  for (const id of s.removedFrameworks) state.removedFrameworks.add(id);
  for (const w of s.weights) state.weights.set(w.role, w.weight);
  for (const q of s.quotas) state.quotas.set(q.role, q);
  state.completedTasks.push(...s.completedTasks);
  for (const d of s.agentDrains) state.drains.set(d.agentId, drainOf(d));
  if (s.maintenanceSchedule) state.maintenance = s.maintenanceSchedule;
  state.downMachines.push(...s.downMachines);
  return { state, leaderTerm: Number(s.leaderTerm), leader: s.leader };
}
