/**
 * The Operator API's calls that change the master: role weights (given to the allocator)
 * and quota (kept in the registry; the allocator does not enforce it yet). Each validates
 * the whole request first, then persists it as one registry operation.
 */
import { create } from "@bufbuild/protobuf";
import { QuotaInfoSchema, WeightInfoSchema, type QuotaInfo, type WeightInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { Value_Type } from "../../gen/dcos/v1/common_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { resourceProblem, roleProblem } from "../../resources/index.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { MasterCore } from "./core.js";

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

function persist(core: MasterCore, op: Parameters<MasterCore["persist"]>[0], then: () => void): Promise<void> {
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

export function weights(core: MasterCore): WeightInfo[] {
  return [...core.registrar.state().weights].map(([role, weight]) => create(WeightInfoSchema, { role, weight }));
}

export function updateWeights(core: MasterCore, infos: readonly WeightInfo[]): Promise<void> {
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

export function quota(core: MasterCore): QuotaInfo[] {
  return [...core.registrar.state().quotas.values()];
}

/** Scalar, unreserved, non-negative quantities by name; INVALID_ARGUMENT otherwise. */
function quantities(resources: readonly Resource[], what: string): Map<string, number> {
  const out = new Map<string, number>();
  resources.forEach((r, i) => {
    const problem = resourceProblem(r);
    if (problem) throw invalid(`${what} #${i + 1}: ${problem}`);
    if (r.type !== Value_Type.SCALAR) throw invalid(`${what} #${i + 1}: quota is for scalar resources, '${r.name}' is not one`);
    if (r.reservations.length > 0) throw invalid(`${what} #${i + 1}: quota names quantities; '${r.name}' must not carry a reservation`);
    if (out.has(r.name)) throw invalid(`${what} #${i + 1}: '${r.name}' appears twice`);
    out.set(r.name, r.scalar!.value);
  });
  return out;
}

export function updateQuota(core: MasterCore, infos: readonly QuotaInfo[]): Promise<void> {
  if (infos.length === 0) throw invalid("quota_infos must name at least one role");
  checkRoles(
    infos.map((q) => q.role),
    "quota_infos",
  );
  for (const q of infos) {
    const guarantees = quantities(q.guarantees, `quota of '${q.role}': guarantee`);
    const limits = quantities(q.limits, `quota of '${q.role}': limit`);
    for (const [name, g] of guarantees) {
      const limit = limits.get(name);
      if (limit !== undefined && g > limit) throw invalid(`quota of '${q.role}': the guarantee of ${name} (${g}) exceeds its limit (${limit})`);
    }
  }
  const quotas = infos.map((q) => create(QuotaInfoSchema, q));
  return persist(core, { kind: "updateQuota", quotas }, () =>
    core.log.info({ roles: quotas.map((q) => q.role) }, `Updated the quota of ${quotas.map((q) => q.role).join(", ")}`),
  );
}
