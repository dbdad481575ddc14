/**
 * One protocol `Resource`: its role, identity (which resources merge when added), value
 * checks, and constructors. The `Resources` value type (resources.ts) builds on these.
 */
import { create } from "@bufbuild/protobuf";
import { Value_Type, type Value_Range } from "../gen/dcos/v1/common_pb.js";
import {
  AllocationInfoSchema,
  ReservationInfo_Type,
  ReservationInfoSchema,
  ResourceSchema,
  type AllocationInfo,
  type ReservationInfo,
  type Resource,
} from "../gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import { isNormalized, normalizeRanges, type Interval } from "./ranges.js";
import { DEFAULT_ROLE, isRoleOrDescendant, roleProblem } from "./roles.js";
import { roundScalar } from "./scalar.js";
import { normalizeSet } from "./sets.js";

/** The highest value a range bound may have (Value.Range is uint32). */
export const MAX_RANGE_VALUE = 0xffff_ffff;

const NAME_FORBIDDEN = /[\s():;{}[\]@,\u0000-\u001f\u007f]/;

/** The role that owns the resource: the top of its reservation stack, or "*". */
export function reservationRole(r: Resource): string {
  const n = r.reservations.length;
  return n === 0 ? DEFAULT_ROLE : r.reservations[n - 1]!.role;
}

export function isReserved(r: Resource): boolean {
  return r.reservations.length > 0;
}

/** The role the resource was allocated to, or undefined. */
export function allocationRole(r: Resource): string | undefined {
  const role = r.allocationInfo?.role;
  return role ? role : undefined;
}

/** Persistent volumes are whole things: they are never split or merged. */
export function isIndivisible(r: Resource): boolean {
  return (r.disk?.persistence?.id ?? "") !== "";
}

/**
 * Resources with the same key are the same kind of thing and merge when added: same name
 * and type, same reservation stack, same disk identity, same allocation role. The key is
 * the kind key (everything but the allocation role) plus allocationKeySuffix.
 */
export function resourceKey(r: Resource): string {
  return kindKey(r) + allocationKeySuffix(allocationRole(r));
}

/** The part of the key that does not depend on the allocation role. */
export function kindKey(r: Resource): string {
  let key = `${r.name}|${r.type}`;
  for (const v of r.reservations) {
    key += `|${v.type}:${v.role}:${v.principal}`;
    if (v.labels && v.labels.labels.length > 0) key += `:${v.labels.labels.map((l) => `${l.key}=${l.value}`).join(",")}`;
  }
  if (r.disk) {
    const p = r.disk.persistence;
    const vol = r.disk.volume;
    key += `|disk:${p?.id ?? ""}:${p?.principal ?? ""}:${vol ? `${vol.mode}:${vol.containerPath}:${vol.hostPath}` : ""}`;
  }
  return key;
}

export function allocationKeySuffix(role: string | undefined): string {
  return role === undefined ? "" : `|@${role}`;
}

/** Why the resource is invalid, or undefined. Messages name the resource. */
export function resourceProblem(r: Resource): string | undefined {
  if (r.name.length === 0) return "its name is empty";
  if (NAME_FORBIDDEN.test(r.name)) return `its name '${r.name}' contains whitespace or one of ( ) : ; { } [ ] @ ,`;
  const what = `resource '${r.name}'`;
  switch (r.type) {
    case Value_Type.SCALAR: {
      const v = r.scalar?.value;
      if (v === undefined) return `${what} is a scalar without a scalar value`;
      if (!Number.isFinite(v) || v < 0) return `${what} has scalar value ${v}; it must be a finite number ≥ 0`;
      if (r.ranges || r.set) return `${what} is a scalar but also has ranges or a set`;
      break;
    }
    case Value_Type.RANGES: {
      if (!r.ranges) return `${what} is of type ranges without ranges`;
      if (r.scalar || r.set) return `${what} is of type ranges but also has a scalar or a set`;
      for (const range of r.ranges.range) {
        if (!Number.isInteger(range.begin) || !Number.isInteger(range.end) || range.begin < 0 || range.end > MAX_RANGE_VALUE) {
          return `${what} has range [${range.begin}-${range.end}] outside the integers 0..${MAX_RANGE_VALUE}`;
        }
        if (range.begin > range.end) return `${what} has range [${range.begin}-${range.end}] whose begin is after its end`;
      }
      break;
    }
    case Value_Type.SET:
      if (!r.set) return `${what} is of type set without a set`;
      if (r.scalar || r.ranges) return `${what} is of type set but also has a scalar or ranges`;
      break;
    default:
      return `${what} has type ${Value_Type[r.type] ?? r.type}; it must be SCALAR, RANGES or SET`;
  }
  let previous: string | undefined;
  for (const v of r.reservations) {
    if (v.role === DEFAULT_ROLE) return `${what} is reserved to '*', which is the unreserved role`;
    const problem = roleProblem(v.role);
    if (problem) return `${what} is reserved to invalid role '${v.role}': ${problem}`;
    if (previous !== undefined && (v.role === previous || !isRoleOrDescendant(v.role, previous))) {
      return `${what} has reservation role '${v.role}' that does not refine the role below it ('${previous}')`;
    }
    previous = v.role;
  }
  const alloc = allocationRole(r);
  if (alloc !== undefined) {
    const problem = roleProblem(alloc);
    if (problem) return `${what} is allocated to invalid role '${alloc}': ${problem}`;
  }
  if (isIndivisible(r) && r.type !== Value_Type.SCALAR) return `${what} is a persistent volume but not a scalar`;
  return undefined;
}

export function validateResource(r: Resource): void {
  const problem = resourceProblem(r);
  if (problem) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid resource: ${problem}`);
}

/** Whether the value is zero (no amount, no ranges, no items): such resources are dropped. */
export function isEmptyResource(r: Resource): boolean {
  switch (r.type) {
    case Value_Type.SCALAR:
      return roundScalar(r.scalar?.value ?? 0) === 0;
    case Value_Type.RANGES:
      return (r.ranges?.range.length ?? 0) === 0;
    case Value_Type.SET:
      return (r.set?.item.length ?? 0) === 0;
    default:
      return true;
  }
}

/** The resource with its value normalised (scalar rounded, ranges merged, set sorted); may be r itself. */
export function normalizeResource(r: Resource): Resource {
  switch (r.type) {
    case Value_Type.SCALAR: {
      const v = r.scalar!.value;
      const rounded = roundScalar(v);
      return rounded === v ? r : withScalar(r, rounded);
    }
    case Value_Type.RANGES:
      return isNormalized(r.ranges!.range) ? r : withRanges(r, normalizeRanges(r.ranges!.range));
    case Value_Type.SET: {
      const items = r.set!.item;
      const sorted = normalizeSet(items);
      return sorted.length === items.length && sorted.every((x, i) => x === items[i]) ? r : withSet(r, sorted);
    }
    default:
      return r;
  }
}

// ---- copies with one part replaced (resources are treated as immutable) --------------

/**
 * A copy of r with some fields replaced. Built field by field (no spread, no delete) so
 * every copy has the same hidden class: the allocator makes many of them per round.
 */
function copyWith(r: Resource, patch: Partial<Pick<Resource, "scalar" | "ranges" | "set" | "reservations" | "allocationInfo">>): Resource {
  const copy: Resource = {
    $typeName: "dcos.v1.Resource",
    name: r.name,
    type: r.type,
    scalar: "scalar" in patch ? patch.scalar : r.scalar,
    ranges: "ranges" in patch ? patch.ranges : r.ranges,
    set: "set" in patch ? patch.set : r.set,
    reservations: patch.reservations ?? r.reservations,
    disk: r.disk,
    allocationInfo: "allocationInfo" in patch ? patch.allocationInfo : r.allocationInfo,
  };
  if (r.$unknown) copy.$unknown = r.$unknown;
  return copy;
}

export function withScalar(r: Resource, value: number): Resource {
  return copyWith(r, { scalar: { $typeName: "dcos.v1.Value.Scalar", value } });
}

export function withRanges(r: Resource, intervals: readonly Interval[]): Resource {
  const range: Value_Range[] = intervals.map((i) => ({ $typeName: "dcos.v1.Value.Range", begin: i.begin, end: i.end }));
  return copyWith(r, { ranges: { $typeName: "dcos.v1.Value.Ranges", range } });
}

export function withSet(r: Resource, items: readonly string[]): Resource {
  return copyWith(r, { set: { $typeName: "dcos.v1.Value.Set", item: [...items] } });
}

/** The resource allocated to role (or with no allocation role when role is undefined). */
export function withAllocationRole(r: Resource, role: string | undefined): Resource {
  if (allocationRole(r) === role) return r;
  return copyWith(r, { allocationInfo: role === undefined ? undefined : allocationInfo(role) });
}

/** Shared, never mutated AllocationInfo messages, one per role (the allocator makes many). */
const allocationInfos = new Map<string, AllocationInfo>();

function allocationInfo(role: string): AllocationInfo {
  let info = allocationInfos.get(role);
  if (!info) {
    info = create(AllocationInfoSchema, { role });
    if (allocationInfos.size < 100_000) allocationInfos.set(role, info);
  }
  return info;
}

/** The resource without reservations and allocation role: a plain quantity of role "*". */
export function withoutRoles(r: Resource): Resource {
  if (r.reservations.length === 0 && r.allocationInfo === undefined) return r;
  return copyWith(r, { reservations: [], allocationInfo: undefined });
}

// ---- constructors -------------------------------------------------------------------

function staticReservations(role: string | undefined): ReservationInfo[] {
  if (role === undefined || role === DEFAULT_ROLE) return [];
  return [create(ReservationInfoSchema, { type: ReservationInfo_Type.STATIC, role })];
}

/** A scalar resource; a role other than "*" makes it statically reserved to that role. */
export function scalarResource(name: string, value: number, role?: string): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.SCALAR,
    scalar: { value },
    reservations: staticReservations(role),
  });
}

export function rangesResource(name: string, intervals: readonly Interval[], role?: string): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.RANGES,
    ranges: { range: intervals.map((i) => ({ begin: i.begin, end: i.end })) },
    reservations: staticReservations(role),
  });
}

export function setResource(name: string, items: readonly string[], role?: string): Resource {
  return create(ResourceSchema, {
    name,
    type: Value_Type.SET,
    set: { item: [...items] },
    reservations: staticReservations(role),
  });
}
