/**
 * The cluster's scalar resources as the master's metrics show them (Mesos's
 * master/cpus_total, _used, _percent, and the same for mem, disk, gpus): the total of the
 * registered, reachable agents; what their tasks (not yet terminal) and executors use; and,
 * as our addition, what sits in outstanding offers.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Quantities } from "../../resources/index.js";
import { toMillis } from "../../resources/scalar.js";
import { AgentState } from "./agent.js";
import type { MasterCore } from "./core.js";
import { isTerminal } from "../task-states.js";

export const METERED_RESOURCES = ["cpus", "mem", "disk", "gpus"] as const;
export type MeteredResource = (typeof METERED_RESOURCES)[number];

export interface ResourceUsage {
  total: Quantities;
  used: Quantities;
  offered: Quantities;
}

function add(q: Quantities, resources: readonly Resource[]): void {
  for (const r of resources) if (r.scalar) q.addMillis(r.name, toMillis(r.scalar.value));
}

export function resourceUsage(core: MasterCore): ResourceUsage {
  const usage: ResourceUsage = { total: new Quantities(), used: new Quantities(), offered: new Quantities() };
  for (const agent of core.agents.values()) {
    if (agent.state !== AgentState.ACTIVE) continue;
    add(usage.total, agent.info.resources);
    for (const task of agent.tasks.values()) if (!isTerminal(task.state)) add(usage.used, task.resources);
    for (const executors of agent.executors.values()) for (const e of executors.values()) add(usage.used, e.resources);
  }
  for (const offer of core.offers.all()) add(usage.offered, offer.resources);
  return usage;
}
