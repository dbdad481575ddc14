/**
 * The Operator API's RESERVE_RESOURCES, UNRESERVE_RESOURCES, CREATE_VOLUMES and
 * DESTROY_VOLUMES: the operator changes an agent's unused resources (its total less what
 * tasks and executors use) with the same conversions frameworks make of their offers
 * (operations.ts), so the checks and messages are the same. Resources are grouped by the
 * role they are (or will be) reserved to, and each group is converted as if offered to
 * that role.
 *
 * Everything is checked before anything changes (INVALID_ARGUMENT naming what is wrong;
 * NOT_FOUND for an unknown agent, FAILED_PRECONDITION for one that is not active). Then
 * the agent's outstanding offers are rescinded (they were made of the old resources), its
 * new total goes to the allocator, and it is sent the CheckpointResources to write.
 */
import { create } from "@bufbuild/protobuf";
import { Offer_OperationSchema, type Offer_Operation } from "../../gen/dcos/v1/offers_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Resources, reservationRole } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import { isTerminal } from "../task-states.js";
import type { AgentRecord } from "./agent-record.js";
import type { MasterState } from "./master-state.js";
import { checkpointAgent, volumeUserOn } from "./operations-apply.js";
import { convert, type Conversion, type ResourceOperation } from "./operations.js";

export interface OperatorOperationRequest {
  operation: ResourceOperation;
  agentId: string;
  resources: readonly Resource[];
}

const NAMES: Record<ResourceOperation, string> = {
  reserve: "RESERVE_RESOURCES",
  unreserve: "UNRESERVE_RESOURCES",
  create: "CREATE_VOLUMES",
  destroy: "DESTROY_VOLUMES",
};

function operation(kind: ResourceOperation, list: Resource[]): Offer_Operation {
  const value = kind === "reserve" || kind === "unreserve" ? { resources: list } : { volumes: list };
  return create(Offer_OperationSchema, { kind: { case: kind, value } as Offer_Operation["kind"] });
}

/** What the agent has that no task or executor uses (outstanding offers included). */
function unused(agent: AgentRecord): Resources {
  let free = Resources.of(agent.info.resources).unallocated();
  for (const task of agent.tasks.values()) if (!isTerminal(task.state)) free = free.subtract(Resources.of(task.resources).unallocated());
  for (const executors of agent.executors.values()) for (const e of executors.values()) free = free.subtract(Resources.of(e.resources).unallocated());
  return free;
}

function activeAgent(core: MasterState, name: string, agentId: string): AgentRecord {
  if (!agentId) throw new DcosError(Code.INVALID_ARGUMENT, `${name}: agent_id is required`);
  const agent = core.agents.get(agentId);
  if (!agent) throw new DcosError(Code.NOT_FOUND, `${name}: unknown agent '${agentId}'`);
  if (!agent.active) throw new DcosError(Code.FAILED_PRECONDITION, `${name}: agent ${agentId} is ${agent.state}, not active; try again once it is reachable`);
  return agent;
}

/** The conversions, checked in order against the agent's unused resources; throws before any change. */
function plan(agent: AgentRecord, name: string, r: OperatorOperationRequest): Conversion[] {
  if (r.resources.length === 0) throw new DcosError(Code.INVALID_ARGUMENT, `${name} names no resources`);
  const byRole = new Map<string, Resource[]>();
  for (const res of r.resources) {
    const role = reservationRole(res);
    byRole.set(role, [...(byRole.get(role) ?? []), res]);
  }
  let pool = unused(agent);
  let total = Resources.of(agent.info.resources);
  const conversions: Conversion[] = [];
  for (const [role, list] of byRole) {
    try {
      const c = convert(operation(r.operation, list), pool.allocate(role), {
        frameworkId: "(operator)",
        frameworkRoles: [role],
        principal: "",
        agentTotal: total,
        volumeUser: volumeUserOn(agent),
        poolName: `the unused resources of agent ${agent.id}`,
      });
      pool = pool.subtract(c.consumed.unallocated()).add(c.converted.unallocated());
      total = total.subtract(c.consumed.unallocated()).add(c.converted.unallocated());
      conversions.push(c);
    } catch (err) {
      throw new DcosError(Code.INVALID_ARGUMENT, `${name} on agent ${agent.id}: ${(err as Error).message}`, { cause: err });
    }
  }
  return conversions;
}

/** Runs inside the master actor. */
export function operatorOperation(core: MasterState, r: OperatorOperationRequest): void {
  const name = NAMES[r.operation];
  const agent = activeAgent(core, name, r.agentId);
  const conversions = plan(agent, name, r);
  core.rescindOffers(core.offers.onAgent(agent.id), `the operator changes the resources of agent ${agent.id} (${name})`);
  let total = Resources.of(agent.info.resources);
  for (const c of conversions) total = total.subtract(c.consumed.unallocated()).add(c.converted.unallocated());
  agent.setTotalResources(total.toProto());
  core.allocator.updateAgent(agent.id, agent.info.resources);
  core.log.info(
    { agent: agent.id, operation: name, conversions: conversions.map((c) => `${c.consumed.unallocated()} -> ${c.converted.unallocated()}`) },
    `${name} by the operator on agent ${agent.id}: ${conversions.map((c) => `${c.consumed.unallocated()} -> ${c.converted.unallocated()}`).join("; ")}`,
  );
  checkpointAgent(core, agent);
}
