/**
 * The Operator API's calls that change the master: role weights and quota (both given to
 * the allocator, which enforces them). Each validates the whole request first, then
 * persists it as one registry operation.
 */
import { create } from "@bufbuild/protobuf";
import { WeightInfoSchema, type QuotaConfig, type QuotaInfo, type WeightInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { roleProblem } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { MasterState } from "./master-state.js";
import type { MasterView } from "./master-view.js";
import { allocatorQuotas, amountsOfInfo, planQuotaUpdate, quotaConfig, quotaInfo, type QuotaAmounts } from "./quota.js";

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

function checkRoles(roles: readonly string[], what: string): void {
  const seen = new Set<string>();
  roles.forEach((role, i) => {
    const problem = roleProblem(role);
    if (problem) throw invalid(`${what} #${i + 1}: invalid role '${role}': ${problem}`);
    if (role === "*") throw invalid(`${what} #${i + 1}: the default role '*' cannot have one`);
    if (seen.has(role)) throw invalid(`${what} #${i + 1}: role '${role}' appears twice`);
    seen.add(role);
  });
}

/** Persists op; resolves once it is applied and `then` ran (inside the master actor). */
export function persist(core: MasterState, op: Parameters<MasterState["persist"]>[0], then: () => void): Promise<void> {
  return new Promise((resolve, reject) =>
    core.persist(
      op,
      () => {
        then();
        core.changed();
        resolve();
      },
      reject,
    ),
  );
}

export function weights(core: MasterView): WeightInfo[] {
  return [...core.registrar.state().weights].map(([role, weight]) => create(WeightInfoSchema, { role, weight }));
}

export function updateWeights(core: MasterState, infos: readonly WeightInfo[]): Promise<void> {
  if (infos.length === 0) throw invalid("weight_infos must name at least one role");
  checkRoles(
    infos.map((w) => w.role),
    "weight_infos",
  );
  infos.forEach((w, i) => {
    if (!Number.isFinite(w.weight) || w.weight <= 0) throw invalid(`weight_infos #${i + 1}: weight of '${w.role}' must be a positive number, not ${w.weight}`);
  });
  const changes = new Map(infos.map((w) => [w.role, w.weight]));
  return persist(core, { kind: "updateWeights", weights: changes }, () => {
    core.allocator.updateWeights(core.registrar.state().weights);
    core.log.info({ weights: Object.fromEntries(changes) }, `Updated the weights of ${[...changes.keys()].join(", ")}`);
  });
}

export function quota(core: MasterView): QuotaInfo[] {
  return [...core.registrar.state().quotas.values()];
}

export function quotaConfigs(core: MasterView): QuotaConfig[] {
  return [...core.registrar.state().quotas.values()].map((info) => quotaConfig(amountsOfInfo(info)));
}

/**
 * UPDATE_QUOTA: checked as a whole (quota.ts), persisted as one registry operation, then
 * given to the allocator; outstanding offers are rescinded so that the next round keeps
 * the new guarantees' headroom and honours the new limits.
 */
export function updateQuota(core: MasterState, infos: readonly QuotaInfo[], configs: readonly QuotaConfig[] = [], force = false): Promise<void> {
  const { updates } = planQuotaUpdate(core.registrar.state().quotas, infos, configs, force, core.agents.values());
  const quotas = updates.map(quotaInfo);
  return persist(core, { kind: "updateQuota", quotas }, () => {
    core.allocator.updateQuota(allocatorQuotas(core.registrar.state().quotas));
    for (const offer of [...core.offers.values()]) core.rescindOffer(offer.id!.value, `the quota of ${quotas.map((q) => q.role).join(", ")} changed`);
    core.log.info(
      { roles: quotas.map((q) => q.role), force },
      `Updated the quota of ${quotas.map((q) => `${q.role} (${describe(amountsOfInfo(q))})`).join("; ")}`,
    );
  });
}

function describe(q: QuotaAmounts): string {
  const text = (m: ReadonlyMap<string, number>) => [...m].map(([n, v]) => `${n}:${v}`).join(",") || "none";
  return q.guarantees.size === 0 && q.limits.size === 0 ? "removed" : `guarantees ${text(q.guarantees)}, limits ${text(q.limits)}`;
}
