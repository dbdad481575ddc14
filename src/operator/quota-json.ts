/**
 * GET /quota on the master, in Mesos 1.9's shape: `infos` (each role's guarantee as a
 * resource list, kept by Mesos for old clients) and `configs` (guarantees and limits by
 * resource name). Each config also carries `consumed`: what the role and its sub-roles
 * hold now (offered or used, plus free resources reserved to them), as the allocator
 * counts it against the quota.
 */
import type { MasterView } from "../actors/master/master-view.js";
import { isTerminal } from "../actors/task-states.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { amountsOfInfo } from "../actors/master/quota.js";
import { isRoleOrDescendant, Quantities, Resources } from "../resources/index.js";
import { quantitiesJson, type ResourcesJson } from "./resources-json.js";

interface QuotaConfigJson {
  role: string;
  guarantees: Record<string, { value: number }>;
  limits: Record<string, { value: number }>;
  consumed: ResourcesJson;
}

function scalars(m: ReadonlyMap<string, number>): Record<string, { value: number }> {
  return Object.fromEntries([...m].map(([name, value]) => [name, { value }]));
}

/** What role's subtree holds: tasks, executors and offers on its roles, and its reservations left free. */
export function roleConsumption(core: MasterView, role: string): Quantities {
  const q = new Quantities();
  const mine = (r: string | undefined): boolean => r !== undefined && isRoleOrDescendant(r, role);
  for (const agent of core.agents.values()) {
    if (!agent.active) continue;
    let free = Resources.of(agent.info.resources);
    const held = (list: readonly Resource[]): void => {
      const res = Resources.of(list);
      free = free.subtract(res.unallocated());
      for (const [r, part] of res.quantitiesByAllocationRole()) if (mine(r)) q.addAll(part);
    };
    for (const task of agent.tasks.values()) if (!isTerminal(task.state)) held(task.resources);
    for (const executors of agent.executors.values()) for (const e of executors.values()) held(e.resources);
    for (const id of core.offers.onAgent(agent.id)) held(core.offers.get(id)!.resources);
    for (const r of free.reservationRoles()) if (mine(r)) q.addAll(free.reserved(r).quantities());
  }
  return q;
}

export function quotaJson(core: MasterView): { infos: unknown[]; configs: QuotaConfigJson[] } {
  const infos: unknown[] = [];
  const configs: QuotaConfigJson[] = [];
  for (const info of core.registrar.state().quotas.values()) {
    const a = amountsOfInfo(info);
    infos.push({ role: a.role, guarantee: [...a.guarantees].map(([name, value]) => ({ name, type: "SCALAR", scalar: { value }, role: "*" })) });
    configs.push({ role: a.role, guarantees: scalars(a.guarantees), limits: scalars(a.limits), consumed: quantitiesJson(roleConsumption(core, a.role)) });
  }
  return { infos, configs };
}
