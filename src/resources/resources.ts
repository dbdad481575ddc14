/**
 * `Resources`: an immutable bag of protocol `Resource`s with Mesos's arithmetic. Resources
 * of the same kind (same name, type, reservation stack, disk identity and allocation role;
 * see resourceKey in resource.ts) are merged into one entry; resources of different kinds never mix, so
 * "cpus:2" and "cpus(ops):2" stay apart. Values are normalised, empty values dropped, and
 * nothing ever goes negative: subtracting more than is there leaves nothing.
 *
 * The protocol messages inside are shared, never mutated; treat what `toProto()` returns
 * as read-only.
 */
import { Value_Type } from "../gen/dcos/v1/common_pb.js";
import type { Resource } from "../gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../runtime/error.js";
import { Quantities } from "./quantities.js";
import { formatRanges, rangesContain, subtractRanges, unionRanges, type Interval } from "./ranges.js";
import {
  allocationRole,
  isEmptyResource,
  isIndivisible,
  normalizeResource,
  kindKey,
  reservationRole,
  resourceProblem,
  withAllocationRole,
  withoutRoles,
  withRanges,
  withScalar,
  withSet,
} from "./resource.js";
import { DEFAULT_ROLE, isRoleOrDescendant } from "./roles.js";
import { addScalars, formatScalar, fromMillis, scalarContains, subtractScalars, toMillis } from "./scalar.js";
import { formatSet, setContains, subtractSets, unionSets } from "./sets.js";
import { shareable, sharedKey, SharedScalars } from "./shared-scalars.js";

interface Entry {
  /** kindKey: everything that makes resources of one kind except the allocation role (one shared string per key). */
  readonly kind: string;
  /** The allocation role; with kind, the identity of the entry (see resourceKey). */
  readonly alloc: string | undefined;
  /** Top of the reservation stack, "*" if unreserved. */
  readonly role: string;
  readonly res: Resource;
}

function entryOf(res: Resource): Entry {
  const kind = sharedKey(kindKey(res));
  return { kind, alloc: allocationRole(res), role: reservationRole(res), res };
}

function withRes(e: Entry, res: Resource): Entry {
  return { kind: e.kind, alloc: e.alloc, role: e.role, res };
}

/**
 * Computed scalar entries, one per kind, allocation role and amount (shared-scalars.ts):
 * the allocator's books of like agents hold the same few, and an entry is never changed.
 */
const scalarEntries = new SharedScalars<Entry>();

/**
 * e's kind (allocated to `alloc`) with `value` as a scalar: `like` with the value (and the
 * allocation role) replaced; the shared entry when like's every field is in its key.
 */
function scalarEntry(e: Entry, alloc: string | undefined, like: Resource, value: number): Entry {
  if (value === 0 || !shareable(like)) return madeEntry(e, alloc, like, value);
  const millis = toMillis(value);
  return scalarEntries.get(e.kind, alloc, millis) ?? scalarEntries.keep(e.kind, alloc, millis, madeEntry(e, alloc, like, value));
}

function madeEntry(e: Entry, alloc: string | undefined, like: Resource, value: number): Entry {
  return { kind: e.kind, alloc, role: e.role, res: withAllocationRole(withScalar(like, value), alloc) };
}

/** e less b (of its kind); e itself when nothing changes. */
function removed(e: Entry, b: Resource): Entry {
  const a = e.res;
  if (divisibleScalar(a)) return scalarEntry(e, e.alloc, a, subtractScalars(a.scalar!.value, b.scalar!.value));
  const res = remove(a, b);
  return res === a ? e : withRes(e, res);
}

/** Whether r is a scalar whose amount its arithmetic may change (not a persistent volume). */
function divisibleScalar(r: Resource): boolean {
  return r.type === Value_Type.SCALAR && !isIndivisible(r);
}

/** Whether two entries hold the same kind of resource (and so merge). */
function same(a: Entry, b: Entry): boolean {
  return a.kind === b.kind && a.alloc === b.alloc;
}

function merge(a: Resource, b: Resource): Resource {
  if (isIndivisible(a)) return a;
  switch (a.type) {
    case Value_Type.SCALAR:
      return withScalar(a, addScalars(a.scalar!.value, b.scalar!.value));
    case Value_Type.RANGES:
      return withRanges(a, unionRanges(a.ranges!.range, b.ranges!.range));
    default:
      return withSet(a, unionSets(a.set!.item, b.set!.item));
  }
}

/** a − b for resources of one kind; may be empty. */
function remove(a: Resource, b: Resource): Resource {
  switch (a.type) {
    case Value_Type.SCALAR:
      if (isIndivisible(a)) return valueEquals(a, b) ? withScalar(a, 0) : a;
      return withScalar(a, subtractScalars(a.scalar!.value, b.scalar!.value));
    case Value_Type.RANGES:
      return withRanges(a, subtractRanges(a.ranges!.range, b.ranges!.range));
    default:
      return withSet(a, subtractSets(a.set!.item, b.set!.item));
  }
}

function valueContains(a: Resource, b: Resource): boolean {
  switch (a.type) {
    case Value_Type.SCALAR:
      return isIndivisible(a) ? valueEquals(a, b) : scalarContains(a.scalar!.value, b.scalar!.value);
    case Value_Type.RANGES:
      return rangesContain(a.ranges!.range, b.ranges!.range);
    default:
      return setContains(a.set!.item, b.set!.item);
  }
}

function valueEquals(a: Resource, b: Resource): boolean {
  switch (a.type) {
    case Value_Type.SCALAR:
      return toMillis(a.scalar!.value) === toMillis(b.scalar!.value);
    case Value_Type.RANGES: {
      const x = a.ranges!.range;
      const y = b.ranges!.range;
      return x.length === y.length && x.every((r, i) => r.begin === y[i]!.begin && r.end === y[i]!.end);
    }
    default: {
      const x = a.set!.item;
      const y = b.set!.item;
      return x.length === y.length && x.every((s, i) => s === y[i]);
    }
  }
}

function formatValue(r: Resource): string {
  switch (r.type) {
    case Value_Type.SCALAR:
      return formatScalar(r.scalar!.value);
    case Value_Type.RANGES:
      return formatRanges(r.ranges!.range);
    default:
      return formatSet(r.set!.item);
  }
}

/** "cpus(ops)@web[vol-1]:2": name, (reservation role), @allocation role, [volume id], value. */
function formatResource(e: Entry): string {
  let s = e.res.name;
  if (e.role !== DEFAULT_ROLE) s += `(${e.role})`;
  const alloc = allocationRole(e.res);
  if (alloc !== undefined) s += `@${alloc}`;
  const volume = e.res.disk?.persistence?.id;
  if (volume) s += `[${volume}]`;
  return `${s}:${formatValue(e.res)}`;
}

export class Resources {
  private static readonly EMPTY = new Resources([]);

  private constructor(private readonly entries: readonly Entry[]) {}

  static empty(): Resources {
    return Resources.EMPTY;
  }

  /**
   * Resources from protocol messages, merged and normalised. Throws INVALID_ARGUMENT naming
   * the first invalid resource (see resourceProblem).
   */
  static of(resources: Iterable<Resource>): Resources {
    const out: Entry[] = [];
    let i = 0;
    for (const r of resources) {
      const problem = resourceProblem(r);
      if (problem) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid resource #${i + 1}: ${problem}`);
      i++;
      if (!isEmptyResource(r)) Resources.addInto(out, entryOf(normalizeResource(r)));
    }
    return out.length === 0 ? Resources.EMPTY : new Resources(out);
  }

  private static addInto(out: Entry[], e: Entry): void {
    const i = out.findIndex((x) => same(x, e));
    if (i === -1) out.push(e);
    else {
      const a = out[i]!.res;
      out[i] = divisibleScalar(a) ? scalarEntry(e, e.alloc, a, addScalars(a.scalar!.value, e.res.scalar!.value)) : withRes(e, merge(a, e.res));
    }
  }

  get size(): number {
    return this.entries.length;
  }

  isEmpty(): boolean {
    return this.entries.length === 0;
  }

  [Symbol.iterator](): Iterator<Resource> {
    return this.entries.map((e) => e.res)[Symbol.iterator]();
  }

  /** The protocol messages (read-only; shared with this value). */
  toProto(): Resource[] {
    return this.entries.map((e) => e.res);
  }

  // ---- arithmetic ---------------------------------------------------------------------

  add(other: Resources): Resources {
    if (other.entries.length === 0) return this;
    if (this.entries.length === 0) return other;
    const out = [...this.entries];
    for (const e of other.entries) Resources.addInto(out, e);
    return new Resources(out);
  }

  /** What is left of this after taking other away; never negative. */
  subtract(other: Resources): Resources {
    if (other.entries.length === 0 || this.entries.length === 0) return this;
    const out: Entry[] = [];
    for (const e of this.entries) {
      let left = e;
      let gone = false;
      for (const o of other.entries) {
        if (o === e) {
          gone = true; // the very same entry (a part split off this, or the same shared amount): all of it goes
          break;
        }
        if (same(o, e)) left = removed(left, o.res);
      }
      if (!gone && (left === e || !isEmptyResource(left.res))) out.push(left);
    }
    return out.length === 0 ? Resources.EMPTY : new Resources(out);
  }

  /** Whether every resource of other is in this (same kind, at least as much). */
  contains(other: Resources): boolean {
    for (const o of other.entries) {
      const e = this.entries.find((x) => same(x, o));
      if (!e || !valueContains(e.res, o.res)) return false;
    }
    return true;
  }

  equals(other: Resources): boolean {
    if (other.entries.length !== this.entries.length) return false;
    for (const o of other.entries) {
      const e = this.entries.find((x) => same(x, o));
      if (!e || !valueEquals(e.res, o.res)) return false;
    }
    return true;
  }

  // ---- filters ------------------------------------------------------------------------

  filter(pred: (r: Resource) => boolean): Resources {
    const out = this.entries.filter((e) => pred(e.res));
    return out.length === this.entries.length ? this : out.length === 0 ? Resources.EMPTY : new Resources(out);
  }

  private filterEntries(pred: (e: Entry) => boolean): Resources {
    const out = this.entries.filter(pred);
    return out.length === this.entries.length ? this : out.length === 0 ? Resources.EMPTY : new Resources(out);
  }

  unreserved(): Resources {
    return this.filterEntries((e) => e.role === DEFAULT_ROLE);
  }

  /** Reserved resources; with a role, only those whose reservation's top role is that role. */
  reserved(role?: string): Resources {
    return role === undefined ? this.filterEntries((e) => e.role !== DEFAULT_ROLE) : this.filterEntries((e) => e.role === role && role !== DEFAULT_ROLE);
  }

  /** What a framework in role may be offered: unreserved, or reserved to role or one of its ancestors. */
  allocatableTo(role: string): Resources {
    return this.filterEntries((e) => e.role === DEFAULT_ROLE || isRoleOrDescendant(role, e.role));
  }

  /** The distinct top reservation roles (not "*"). */
  reservationRoles(): string[] {
    const roles = new Set<string>();
    for (const e of this.entries) if (e.role !== DEFAULT_ROLE) roles.add(e.role);
    return [...roles];
  }

  hasReservations(): boolean {
    return this.entries.some((e) => e.role !== DEFAULT_ROLE);
  }

  /** Resources whose allocation_info names role. */
  allocatedTo(role: string): Resources {
    return this.filterEntries((e) => allocationRole(e.res) === role);
  }

  /** The distinct allocation roles present. */
  allocationRoles(): string[] {
    const roles = new Set<string>();
    for (const e of this.entries) {
      const r = allocationRole(e.res);
      if (r !== undefined) roles.add(r);
    }
    return [...roles];
  }

  /**
   * The same resources with the scalars named in `allowed` cut down to at most that many
   * thousandths per name (summed over entries, in entry order). An indivisible scalar
   * (a persistent volume) is kept whole or dropped. Other resources are kept as they are.
   */
  capScalars(allowed: ReadonlyMap<string, number>): Resources {
    const left = new Map(allowed);
    let changed = false;
    const out: Entry[] = [];
    for (const e of this.entries) {
      const cap = e.res.type === Value_Type.SCALAR ? left.get(e.res.name) : undefined;
      if (cap === undefined) {
        out.push(e);
        continue;
      }
      const have = toMillis(e.res.scalar!.value);
      const take = isIndivisible(e.res) ? (have <= cap ? have : 0) : Math.min(have, cap);
      left.set(e.res.name, cap - take);
      if (take === have) out.push(e);
      else {
        changed = true;
        if (take > 0) out.push(scalarEntry(e, e.alloc, e.res, fromMillis(take)));
      }
    }
    return !changed ? this : out.length === 0 ? Resources.EMPTY : new Resources(out);
  }

  // ---- transforms ---------------------------------------------------------------------

  /** The same resources, each allocated to role. */
  allocate(role: string): Resources {
    return this.reallocate(role);
  }

  /** The same resources without allocation roles (the allocation_info flattened away). */
  unallocated(): Resources {
    return this.reallocate(undefined);
  }

  private reallocate(role: string | undefined): Resources {
    let changed = false;
    const out: Entry[] = [];
    for (const e of this.entries) {
      if (allocationRole(e.res) === role) {
        out.push(e);
        continue;
      }
      changed = true;
      const moved: Entry = divisibleScalar(e.res) ? scalarEntry(e, role, e.res, e.res.scalar!.value) : { kind: e.kind, alloc: role, role: e.role, res: withAllocationRole(e.res, role) };
      Resources.addInto(out, moved);
    }
    return changed ? new Resources(out) : this;
  }

  /** Plain quantities: reservations and allocation roles dropped, like kinds merged. */
  flatten(): Resources {
    return this.map(withoutRoles);
  }

  private map(fn: (r: Resource) => Resource): Resources {
    let changed = false;
    const out: Entry[] = [];
    for (const e of this.entries) {
      const res = fn(e.res);
      if (res === e.res) out.push(e);
      else {
        changed = true;
        Resources.addInto(out, entryOf(res));
      }
    }
    return changed ? new Resources(out) : this;
  }

  // ---- quantities ---------------------------------------------------------------------

  /** Sum of the scalar resources named name, over all roles. */
  scalar(name: string): number {
    let millis = 0;
    for (const e of this.entries) if (e.res.name === name && e.res.type === Value_Type.SCALAR) millis += toMillis(e.res.scalar!.value);
    return fromMillis(millis);
  }

  /** Adds every scalar to q by name, over all roles (sums over many agents without a Quantities each). */
  addScalarsTo(q: Quantities): void {
    for (const e of this.entries) if (e.res.type === Value_Type.SCALAR) q.addMillis(e.res.name, toMillis(e.res.scalar!.value));
  }

  /** Every scalar by name, over all roles. */
  quantities(): Quantities {
    const q = new Quantities();
    for (const e of this.entries) if (e.res.type === Value_Type.SCALAR) q.addMillis(e.res.name, toMillis(e.res.scalar!.value));
    return q;
  }

  /**
   * Calls fn with each scalar entry's top reservation role ("*" if unreserved), name and
   * amount in thousandths — no intermediate Resources or Quantities (the allocator's quota
   * book reads every agent this way each round).
   */
  forEachScalar(fn: (role: string, name: string, millis: number) => void): void {
    for (const e of this.entries) if (e.res.type === Value_Type.SCALAR) fn(e.role, e.res.name, toMillis(e.res.scalar!.value));
  }

  /** Scalar quantities per allocation role, in one pass (resources without one are left out). */
  quantitiesByAllocationRole(): Map<string, Quantities> {
    const out = new Map<string, Quantities>();
    for (const e of this.entries) {
      const role = allocationRole(e.res);
      if (role === undefined || e.res.type !== Value_Type.SCALAR) continue;
      let q = out.get(role);
      if (!q) out.set(role, (q = new Quantities()));
      q.addMillis(e.res.name, toMillis(e.res.scalar!.value));
    }
    return out;
  }

  /** Union of the ranges named name, over all roles. */
  ranges(name: string): Interval[] {
    let out: Interval[] = [];
    for (const e of this.entries) if (e.res.name === name && e.res.type === Value_Type.RANGES) out = unionRanges(out, e.res.ranges!.range);
    return out.map((i) => ({ begin: i.begin, end: i.end }));
  }

  ports(): Interval[] {
    return this.ranges("ports");
  }

  /** Union of the sets named name, over all roles. */
  set(name: string): string[] {
    let out: string[] = [];
    for (const e of this.entries) if (e.res.name === name && e.res.type === Value_Type.SET) out = unionSets(out, e.res.set!.item);
    return out;
  }

  /** "cpus:2; mem:512; ports:[31000-32000]; cpus(ops):1" (the agent flag's syntax, plus @allocation role). */
  toString(): string {
    return this.entries.map(formatResource).join("; ");
  }
}
