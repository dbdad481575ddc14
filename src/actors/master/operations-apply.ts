/**
 * Applying resource operations (operations.ts) in an ACCEPT: the agent's total changes,
 * the allocator moves the framework's allocation from what was consumed to what was
 * converted (so reserved resources are then offered only to their role), and once the
 * accept is done the agent is sent its new checkpointed resources (CheckpointResources:
 * every dynamic reservation and persistent volume it has), which it writes to disk.
 */
import { create } from "@bufbuild/protobuf";
import { CheckpointResourcesSchema } from "../../gen/dcos/v1/internal_pb.js";
import type { Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Resources } from "../../resources/index.js";
import { isPersistentVolume } from "../../resources/volumes.js";
import type { AgentRecord } from "./agent-record.js";
import type { MasterState } from "./master-state.js";
import type { FrameworkRecord } from "./framework-record.js";
import { checkpointedResources, RESOURCE_OPERATIONS, type Conversion, type OperationContext } from "./operations.js";
import { isTerminal } from "../task-states.js";

export function isResourceOperation(op: Offer_Operation): boolean {
  return RESOURCE_OPERATIONS.has(op.kind.case ?? "");
}

/** The resources a resource operation names (none for other operations). */
export function resourcesOf(op: Offer_Operation): readonly Resource[] {
  const k = op.kind;
  if (k.case === "reserve" || k.case === "unreserve") return k.value.resources;
  if (k.case === "create" || k.case === "destroy") return k.value.volumes;
  return [];
}

export function operationContext(framework: FrameworkRecord, agent: AgentRecord): OperationContext {
  return {
    frameworkId: framework.id,
    frameworkRoles: framework.info.roles,
    principal: framework.info.principal,
    agentTotal: Resources.of(agent.info.resources),
    volumeUser: volumeUserOn(agent),
  };
}

/** The task (not terminal) on the agent that uses a persistent volume, if any. */
export function volumeUserOn(agent: AgentRecord): (volumeId: string) => string | undefined {
  return (id) => {
    for (const t of agent.tasks.values()) {
      if (!isTerminal(t.state) && t.resources.some((r) => isPersistentVolume(r) && r.disk!.persistence!.id === id)) return t.taskId?.value ?? "?";
    }
    return undefined;
  };
}

/** Applies a conversion to the agent's total and the allocator's books. */
export function applyConversion(core: MasterState, framework: FrameworkRecord, agent: AgentRecord, c: Conversion): void {
  const total = Resources.of(agent.info.resources).subtract(c.consumed.unallocated()).add(c.converted.unallocated());
  agent.setTotalResources(total.toProto());
  core.allocator.updateAllocation(framework.id, agent.id, c.consumed.toProto(), c.converted.toProto());
  core.log.info(
    { framework: framework.id, agent: agent.id, operation: c.operation, consumed: String(c.consumed), converted: String(c.converted) },
    `${c.operation.toUpperCase()} by framework ${framework.id} on agent ${agent.id}: ${c.consumed} -> ${c.converted}`,
  );
}

/** Sends the agent what it must checkpoint (after one or more conversions). */
export function checkpointAgent(core: MasterState, agent: AgentRecord): void {
  core.sendToAgent(agent, create(CheckpointResourcesSchema, { resources: checkpointedResources(Resources.of(agent.info.resources)) }));
  core.changed();
}
