/**
 * Role quota on the master: the two request shapes (QuotaInfo with Resource lists, and
 * Mesos 1.9's QuotaConfig with amounts by name), the checks an UPDATE_QUOTA must pass, and
 * the registry's quotas as the allocator takes them.
 *
 * Checks (all or nothing, INVALID_ARGUMENT naming the first problem): valid, distinct,
 * non-default roles; scalar, unreserved, non-negative amounts named once; guarantee ≤
 * limit per name. Then, on the quotas as they would be after the update: a sub-role's
 * limit never exceeds an ancestor's, and where a role guarantees a resource its nearest
 * sub-roles with quota guarantee no more of it in total. Unless forced, the guarantees
 * (each top-level role's own, or its sub-roles' together when larger) must fit in what
 * the cluster's active agents have (FAILED_PRECONDITION), as Mesos's capacity check.
 */
import { create } from "@bufbuild/protobuf";
import { QuotaConfigSchema, QuotaInfoSchema, type QuotaConfig, type QuotaInfo } from "../../gen/dcos/v1/cluster_pb.js";
import { Value_ScalarSchema, Value_Type } from "../../gen/dcos/v1/common_pb.js";
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Quantities, Resources, resourceProblem, roleProblem, scalarResource } from "../../resources/index.js";
import { addScalars, roundScalar } from "../../resources/scalar.js";
import { Code, DcosError } from "../../runtime/error.js";
import type { RoleQuota } from "../allocator/index.js";
import type { AgentRecord } from "./agent-record.js";

/** A role's quota by resource name (scalar amounts). */
export interface QuotaAmounts {
  readonly role: string;
  readonly guarantees: ReadonlyMap<string, number>;
  readonly limits: ReadonlyMap<string, number>;
}

function invalid(message: string): DcosError {
  return new DcosError(Code.INVALID_ARGUMENT, message);
}

function parentRole(role: string): string | undefined {
  const i = role.lastIndexOf("/");
  return i > 0 ? role.slice(0, i) : undefined;
}

/** Scalar, unreserved, non-negative quantities by name; INVALID_ARGUMENT otherwise. */
function fromResources(resources: readonly Resource[], what: string): Map<string, number> {
  const out = new Map<string, number>();
  resources.forEach((r, i) => {
    const problem = resourceProblem(r);
    if (problem) throw invalid(`${what} #${i + 1}: ${problem}`);
    if (r.type !== Value_Type.SCALAR) throw invalid(`${what} #${i + 1}: quota is for scalar resources, '${r.name}' is not one`);
    if (r.reservations.length > 0) throw invalid(`${what} #${i + 1}: quota names quantities; '${r.name}' must not carry a reservation`);
    if (out.has(r.name)) throw invalid(`${what} #${i + 1}: '${r.name}' appears twice`);
    out.set(r.name, roundScalar(r.scalar!.value));
  });
  return out;
}

function fromMap(map: Readonly<Record<string, { value: number }>>, what: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, scalar] of Object.entries(map)) {
    const v = scalar?.value ?? 0;
    if (!name) throw invalid(`${what}: a resource name is empty`);
    if (name.length > 128) throw invalid(`${what}: resource name '${name.slice(0, 32)}…' is longer than 128 characters`);
    if (!Number.isFinite(v) || v < 0) throw invalid(`${what}: '${name}' must be a finite amount >= 0, not ${v}`);
    out.set(name, roundScalar(v));
  }
  return out;
}

function checked(role: string, guarantees: Map<string, number>, limits: Map<string, number>): QuotaAmounts {
  for (const [name, g] of guarantees) {
    const limit = limits.get(name);
    if (limit !== undefined && g > limit) throw invalid(`quota of '${role}': the guarantee of ${name} (${g}) exceeds its limit (${limit})`);
  }
  return { role, guarantees, limits };
}

export function amountsOfInfo(q: QuotaInfo): QuotaAmounts {
  return checked(q.role, fromResources(q.guarantees, `quota of '${q.role}': guarantee`), fromResources(q.limits, `quota of '${q.role}': limit`));
}

export function amountsOfConfig(c: QuotaConfig): QuotaAmounts {
  return checked(c.role, fromMap(c.guarantees, `quota of '${c.role}': guarantees`), fromMap(c.limits, `quota of '${c.role}': limits`));
}

export function quotaInfo(a: QuotaAmounts): QuotaInfo {
  const list = (m: ReadonlyMap<string, number>) => [...m].map(([name, v]) => scalarResource(name, v));
  return create(QuotaInfoSchema, { role: a.role, guarantees: list(a.guarantees), limits: list(a.limits) });
}

export function quotaConfig(a: QuotaAmounts): QuotaConfig {
  const map = (m: ReadonlyMap<string, number>) => Object.fromEntries([...m].map(([name, value]) => [name, create(Value_ScalarSchema, { value })]));
  return create(QuotaConfigSchema, { role: a.role, guarantees: map(a.guarantees), limits: map(a.limits) });
}

/** The registry's quotas as the allocator takes them. */
export function allocatorQuotas(registry: ReadonlyMap<string, QuotaInfo>): Map<string, RoleQuota> {
  const out = new Map<string, RoleQuota>();
  for (const [role, info] of registry) {
    const a = amountsOfInfo(info);
    out.set(role, { guarantees: a.guarantees, limits: a.limits });
  }
  return out;
}

function checkRoles(updates: readonly QuotaAmounts[]): void {
  const seen = new Set<string>();
  updates.forEach(({ role }, i) => {
    const problem = roleProblem(role);
    if (problem) throw invalid(`quota #${i + 1}: invalid role '${role}': ${problem}`);
    if (role === "*") throw invalid(`quota #${i + 1}: the default role '*' cannot have one`);
    if (seen.has(role)) throw invalid(`quota #${i + 1}: role '${role}' appears twice`);
    seen.add(role);
  });
}

/** The nearest ancestor of role that has quota. */
function quotaParent(quotas: ReadonlyMap<string, QuotaAmounts>, role: string): QuotaAmounts | undefined {
  for (let p = parentRole(role); p !== undefined; p = parentRole(p)) {
    const q = quotas.get(p);
    if (q) return q;
  }
  return undefined;
}

/** Limits nest, and children's guarantees fit in their parent's (where it guarantees the name). */
function checkHierarchy(quotas: ReadonlyMap<string, QuotaAmounts>): void {
  const childGuarantees = new Map<string, Quantities>();
  for (const q of quotas.values()) {
    for (let p = parentRole(q.role); p !== undefined; p = parentRole(p)) {
      const parent = quotas.get(p);
      if (!parent) continue;
      for (const [name, limit] of q.limits) {
        const cap = parent.limits.get(name);
        if (cap !== undefined && limit > cap) throw invalid(`quota of '${q.role}': its limit of ${name} (${limit}) exceeds the limit of its parent role '${p}' (${cap})`);
      }
    }
    const parent = quotaParent(quotas, q.role);
    if (parent) {
      let sum = childGuarantees.get(parent.role);
      if (!sum) childGuarantees.set(parent.role, (sum = new Quantities()));
      sum.addAll(Quantities.of(q.guarantees));
    }
  }
  for (const [role, sum] of childGuarantees) {
    const parent = quotas.get(role)!;
    for (const [name, total] of sum.entries()) {
      const g = parent.guarantees.get(name);
      if (g !== undefined && total > g) throw invalid(`quota of '${role}': its sub-roles guarantee ${total} ${name} in total, more than its own guarantee (${g})`);
    }
  }
}

/** Each role's guarantee or its sub-roles' together, whichever is larger, summed over top-level roles. */
function effectiveGuarantees(quotas: ReadonlyMap<string, QuotaAmounts>): Map<string, number> {
  const byRole = new Map<string, Map<string, number>>();
  const deepestFirst = [...quotas.keys()].sort((a, b) => b.split("/").length - a.split("/").length);
  const total = new Map<string, number>();
  for (const role of deepestFirst) {
    const mine = new Map(quotas.get(role)!.guarantees);
    for (const [name, v] of byRole.get(role) ?? []) mine.set(name, Math.max(mine.get(name) ?? 0, v));
    const parent = quotaParent(quotas, role);
    const into = parent ? (byRole.get(parent.role) ?? byRole.set(parent.role, new Map()).get(parent.role)!) : total;
    for (const [name, v] of mine) into.set(name, addScalars(into.get(name) ?? 0, v));
  }
  return total;
}

export interface QuotaUpdate {
  readonly updates: readonly QuotaAmounts[];
  /** The registry's quotas after the update. */
  readonly after: Map<string, QuotaAmounts>;
}

/** Checks an update against the current quotas and the cluster; throws before any change. */
export function planQuotaUpdate(
  current: ReadonlyMap<string, QuotaInfo>,
  infos: readonly QuotaInfo[],
  configs: readonly QuotaConfig[],
  force: boolean,
  agents: Iterable<AgentRecord>,
): QuotaUpdate {
  if (infos.length + configs.length === 0) throw invalid("UPDATE_QUOTA names no role (quota_infos and quota_configs are empty)");
  const updates = [...infos.map(amountsOfInfo), ...configs.map(amountsOfConfig)];
  checkRoles(updates);
  const after = new Map<string, QuotaAmounts>();
  for (const info of current.values()) after.set(info.role, amountsOfInfo(info));
  for (const u of updates) {
    if (u.guarantees.size === 0 && u.limits.size === 0) after.delete(u.role);
    else after.set(u.role, u);
  }
  checkHierarchy(after);
  if (!force) {
    let capacity = Resources.empty();
    for (const agent of agents) if (agent.active) capacity = capacity.add(Resources.of(agent.info.resources).flatten());
    const have = capacity.quantities();
    const before = effectiveGuarantees(new Map([...current.values()].map((info) => [info.role, amountsOfInfo(info)])));
    for (const [name, wanted] of effectiveGuarantees(after)) {
      // Only a guarantee that grows is checked: lowering one on a cluster that shrank is always allowed.
      if (wanted > have.get(name) && wanted > (before.get(name) ?? 0)) {
        throw new DcosError(
          Code.FAILED_PRECONDITION,
          `Total quota guarantees of ${name} (${wanted}) would exceed what the cluster's active agents have (${have.get(name)}); set force to accept it anyway`,
        );
      }
    }
  }
  return { updates, after };
}
