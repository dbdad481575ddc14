/**
 * Quota in an allocation round (Mesos 1.9's guarantees and limits): a `QuotaBook` is built
 * from the snapshot once per round and keeps, for every role that has a quota and for
 * their ancestors ("eng" above "eng/web"), what the role's subtree consumes and what its
 * guarantee still needs.
 *
 * - Consumption of a role: what its frameworks and its sub-roles' frameworks hold (offered
 *   or used), plus the free resources reserved to it or to a sub-role: reservations count
 *   toward both guarantee and limit, as in Mesos.
 * - Need of a role, per resource: max(0, guarantee − consumption, Σ needs of its children).
 *   A child's guarantee can only be met by resources that go to that child, a parent's by
 *   resources anywhere in its subtree.
 * - Required headroom: Σ needs of the top-level roles. Available headroom: the free
 *   unreserved resources of the active agents. Unreserved resources go to a role only as
 *   far as they either lower the required headroom (they meet a guarantee) or come out of
 *   the surplus (available − required): the sum of unmet guarantees is never handed to
 *   roles that do not need it.
 * - Limits: no role (nor any ancestor) is offered a resource beyond its limit.
 *
 * Amounts are integer thousandths (see scalar.ts) so sums never drift.
 */
import type { Quantities } from "../../resources/quantities.js";
import { DEFAULT_ROLE } from "../../resources/roles.js";
import { toMillis } from "../../resources/scalar.js";
import type { AllocationSnapshot, RoleQuota } from "./snapshot.js";


interface QuotaNode {
  readonly role: string;
  readonly depth: number;
  readonly parent: QuotaNode | undefined;
  /** Guarantee and limit in thousandths (empty for an ancestor without quota of its own). */
  readonly guarantee: Map<string, number>;
  readonly limit: Map<string, number>;
  readonly consumed: Map<string, number>;
  readonly need: Map<string, number>;
  readonly childNeed: Map<string, number>;
}

/** A gift so large that it meets every guarantee on its path (for "how much can help"). */
const ALL = Number.MAX_SAFE_INTEGER / 4;

function parentRole(role: string): string | undefined {
  const i = role.lastIndexOf("/");
  return i > 0 ? role.slice(0, i) : undefined;
}

function add(map: Map<string, number>, name: string, millis: number): void {
  const next = (map.get(name) ?? 0) + millis;
  if (next === 0) map.delete(name);
  else map.set(name, next);
}

function millisOf(values: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, v] of values) out.set(name, toMillis(v));
  return out;
}

/** What a role may be offered of a part: the allowed amount of each name that must be cut down. */
export interface QuotaCap {
  /** Name → thousandths allowed, for the names that must be cut (empty: the whole part). */
  readonly allowed: Map<string, number>;
  /** True when the gift would lower some unmet guarantee on the role's path. */
  readonly helps: boolean;
  /**
   * A resource of the part that the role is at its limit of: it takes nothing of this part
   * (an offer without, say, any memory is of no use), and no later part holding it either.
   */
  readonly atLimit?: string;
}

const NO_CAP: QuotaCap = { allowed: new Map(), helps: false };

export class QuotaBook {
  private readonly nodes = new Map<string, QuotaNode>();
  private readonly paths = new Map<string, QuotaNode[]>();
  /** Required headroom (Σ needs of top-level roles) and available headroom, in thousandths. */
  private readonly required = new Map<string, number>();
  private readonly available = new Map<string, number>();

  constructor(quotas: ReadonlyMap<string, RoleQuota>, snapshot: AllocationSnapshot) {
    for (const [role, q] of quotas) {
      const node = this.node(role);
      for (const [name, v] of millisOf(q.guarantees)) node.guarantee.set(name, v);
      for (const [name, v] of millisOf(q.limits)) node.limit.set(name, v);
    }
    for (const fw of snapshot.frameworks) for (const [role, q] of fw.allocated) this.consume(role, q);
    // Free resources: reserved ones count as consumed by their role, unreserved ones of
    // active agents are the available headroom. One pass per agent, nothing allocated per agent.
    let active = false;
    const visit = (role: string, name: string, millis: number): void => {
      if (role !== DEFAULT_ROLE) this.consumeMillis(role, name, millis);
      else if (active) add(this.available, name, millis);
    };
    for (const agent of snapshot.agents) {
      active = agent.active;
      agent.free.forEachScalar(visit);
    }
    const deepestFirst = [...this.nodes.values()].sort((a, b) => b.depth - a.depth);
    for (const node of deepestFirst) {
      for (const name of new Set([...node.guarantee.keys(), ...node.childNeed.keys()])) {
        const need = Math.max(0, (node.guarantee.get(name) ?? 0) - (node.consumed.get(name) ?? 0), node.childNeed.get(name) ?? 0);
        if (need > 0) node.need.set(name, need);
      }
      for (const [name, need] of node.need) add(node.parent ? node.parent.childNeed : this.required, name, need);
    }
  }

  private node(role: string): QuotaNode {
    let node = this.nodes.get(role);
    if (!node) {
      const up = parentRole(role);
      const parent = up === undefined ? undefined : this.node(up);
      node = { role, depth: parent ? parent.depth + 1 : 0, parent, guarantee: new Map(), limit: new Map(), consumed: new Map(), need: new Map(), childNeed: new Map() };
      this.nodes.set(role, node);
    }
    return node;
  }

  private consume(role: string, q: Quantities): void {
    const path = this.path(role);
    if (path.length === 0) return;
    q.forEachMillis((name, m) => {
      for (const node of path) add(node.consumed, name, m);
    });
  }

  private consumeMillis(role: string, name: string, millis: number): void {
    for (const node of this.path(role)) add(node.consumed, name, millis);
  }

  /** The book's nodes that are role or its ancestors, deepest first (cached). */
  private path(role: string): QuotaNode[] {
    let path = this.paths.get(role);
    if (!path) {
      path = [];
      for (let r: string | undefined = role; r !== undefined; r = parentRole(r)) {
        const node = this.nodes.get(r);
        if (node) path.push(node);
      }
      this.paths.set(role, path);
    }
    return path;
  }

  /** How many of path's nodes a gift charges: those strictly below the reservation role stopAt (all when unreserved). */
  private charged(path: readonly QuotaNode[], stopAt: string | undefined): number {
    if (stopAt === undefined) return path.length;
    let n = 0;
    while (n < path.length && path[n]!.role.length > stopAt.length) n++;
    return n;
  }

  /**
   * Walks path upward as if x thousandths of name were given to its first `charged` nodes;
   * with apply, records it. Returns how much the top-level need (the required headroom) drops.
   */
  private walk(path: readonly QuotaNode[], charged: number, name: string, x: number, apply: boolean): number {
    let childOld = 0;
    let childNew = 0;
    let old = 0;
    let next = 0;
    for (let i = 0; i < path.length; i++) {
      const node = path[i]!;
      const consumed = (node.consumed.get(name) ?? 0) + (i < charged ? x : 0);
      const childNeed = (node.childNeed.get(name) ?? 0) + (childNew - childOld);
      old = node.need.get(name) ?? 0;
      next = Math.max(0, (node.guarantee.get(name) ?? 0) - consumed, childNeed);
      if (apply) {
        if (i < charged) add(node.consumed, name, x);
        if (i > 0) add(node.childNeed, name, childNew - childOld);
        if (next > 0) node.need.set(name, next);
        else node.need.delete(name);
      }
      childOld = old;
      childNew = next;
    }
    return path.length === 0 ? 0 : old - next;
  }

  /**
   * What role may take of quantities q: reserved (stopAt = the reservation role) only up to
   * the limits below the reservation; unreserved also only as far as it meets a guarantee
   * on the role's path or comes out of the surplus headroom.
   */
  cap(role: string, q: Quantities, stopAt?: string): QuotaCap {
    const path = this.path(role);
    const charged = this.charged(path, stopAt);
    if (stopAt === undefined ? path.length === 0 && this.required.size === 0 : charged === 0) return NO_CAP;
    let allowed: Map<string, number> | undefined;
    let helps = false;
    let atLimit: string | undefined;
    q.forEachMillis((name, have) => {
      let a = have;
      for (let i = 0; i < charged; i++) {
        const node = path[i]!;
        const limit = node.limit.get(name);
        if (limit !== undefined) a = Math.min(a, Math.max(0, limit - (node.consumed.get(name) ?? 0)));
      }
      if (a === 0) atLimit ??= name;
      if (stopAt === undefined) {
        const required = this.required.get(name) ?? 0;
        const surplus = Math.max(0, (this.available.get(name) ?? 0) - required);
        const useful = required > 0 ? this.walk(path, charged, name, ALL, false) : 0;
        if (useful > 0 && a > 0) helps = true;
        a = Math.min(a, useful + surplus);
      }
      if (a < have) (allowed ??= new Map()).set(name, a);
    });
    if (atLimit !== undefined) return { allowed: new Map(), helps: false, atLimit };
    return allowed || helps ? { allowed: allowed ?? new Map(), helps } : NO_CAP;
  }

  /** Records that role was given q (reserved to stopAt, or unreserved when stopAt is undefined). */
  charge(role: string, q: Quantities, stopAt?: string): void {
    const path = this.path(role);
    const charged = this.charged(path, stopAt);
    q.forEachMillis((name, x) => {
      if (stopAt === undefined) add(this.available, name, -x);
      if (charged === 0) return;
      const dropped = this.walk(path, charged, name, x, true);
      if (dropped !== 0) add(this.required, name, -dropped);
    });
  }

  /** Whether some guarantee is unmet (headroom is held back from other roles). */
  headroomNeeded(): boolean {
    return this.required.size > 0;
  }

  /** Whether some role without an unmet guarantee could still take a scalar of q (the surplus is not used up). */
  surplusFor(q: Quantities): boolean {
    if (this.required.size === 0) return !q.isEmpty();
    for (const name of q.names()) {
      const required = this.required.get(name) ?? 0;
      if (required === 0 || (this.available.get(name) ?? 0) > required) return true;
    }
    return false;
  }

  /** Roles whose guarantee is not met yet, deepest first (then by name). */
  needy(): string[] {
    if (this.required.size === 0) return [];
    const out: QuotaNode[] = [];
    for (const node of this.nodes.values()) if (node.need.size > 0) out.push(node);
    return out.sort((a, b) => b.depth - a.depth || (a.role < b.role ? -1 : 1)).map((n) => n.role);
  }

  hasNeed(role: string): boolean {
    return (this.nodes.get(role)?.need.size ?? 0) > 0;
  }

  /** Thousandths of name role's subtree consumes (tests and metrics). */
  consumed(role: string, name: string): number {
    return this.nodes.get(role)?.consumed.get(name) ?? 0;
  }
}
