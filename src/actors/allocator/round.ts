/**
 * One allocation round, a pure function of a snapshot (Mesos's hierarchical allocator,
 * reduced to its core). Agents are visited in snapshot order; for each agent:
 *
 * 1. reserved resources go to their role (or a role nested below it): to the framework of
 *    that role with the lowest share that has no filter on the agent;
 * 2. unreserved resources go to the first role in the policy's order that has such a
 *    framework, and within it to the framework with the lowest share.
 *
 * A framework takes all it is offered on the agent, then its share and its role's share
 * grow and the order changes for the next agent. Inactive agents and frameworks,
 * suppressed roles and filtered agents get nothing. Only resources with some scalar amount
 * are offered (ports or sets alone are no use).
 */
import { Quantities } from "../../resources/quantities.js";
import type { Resources } from "../../resources/resources.js";
import { isRoleOrDescendant } from "../../resources/roles.js";
import { Heap, type HeapItem } from "./heap.js";
import type { RoleOrder, RoleStanding } from "./role-order.js";
import type { AllocationSnapshot, RoundOffer, SnapshotFramework } from "./snapshot.js";

interface Client extends HeapItem {
  readonly framework: SnapshotFramework;
  readonly alloc: Quantities;
  share: number;
}

interface Role extends HeapItem, RoleStanding {
  readonly name: string;
  readonly weight: number;
  readonly alloc: Quantities;
  share: number;
  readonly clients: Heap<Client>;
}

const byShare = (a: Client, b: Client): boolean => a.share < b.share || (a.share === b.share && a.framework.id < b.framework.id);

class Round {
  private readonly totals = new Quantities();
  private readonly roles = new Map<string, Role>();
  private readonly order: Heap<Role>;
  /** Reservation role → the roles with clients that may use it, cached for the round. */
  private readonly servedBy = new Map<string, Role[]>();
  private readonly offers: { frameworkId: string; agentId: string; resources: Resources; taken: Resources }[] = [];
  /** Index in offers of the first offer on the agent being visited. */
  private agentStart = 0;

  constructor(
    private readonly snapshot: AllocationSnapshot,
    private readonly roleBefore: RoleOrder,
  ) {
    this.order = new Heap<Role>(roleBefore);
    for (const agent of snapshot.agents) if (agent.active) this.totals.addAll(agent.total.quantities());
    for (const fw of snapshot.frameworks) {
      for (const [roleName, q] of fw.allocated) this.role(roleName).alloc.addAll(q);
      if (!fw.active) continue;
      for (const roleName of fw.roles) {
        if (fw.suppressedRoles.has(roleName)) continue;
        const role = this.role(roleName);
        const alloc = fw.allocated.get(roleName)?.clone() ?? new Quantities();
        role.clients.push({ framework: fw, alloc, share: alloc.dominantShare(this.totals), heapIndex: -1 });
      }
    }
    for (const role of this.roles.values()) {
      role.share = this.roleShare(role);
      if (role.clients.size > 0) this.order.push(role);
    }
  }

  private role(name: string): Role {
    let role = this.roles.get(name);
    if (!role) {
      const weight = this.snapshot.weights.get(name) ?? 1;
      role = { name, weight, alloc: new Quantities(), share: 0, clients: new Heap(byShare), heapIndex: -1 };
      this.roles.set(name, role);
    }
    return role;
  }

  private roleShare(role: Role): number {
    return role.alloc.dominantShare(this.totals) / role.weight;
  }

  run(): RoundOffer[] {
    if (this.order.size === 0) return [];
    for (const agent of this.snapshot.agents) {
      if (!agent.active || agent.free.isEmpty()) continue;
      this.agentStart = this.offers.length;
      let free = agent.free;
      if (free.hasReservations()) {
        for (const reservedTo of free.reservationRoles()) {
          const part = free.reserved(reservedTo);
          const taker = this.pick(this.rolesServing(reservedTo), agent.id, part);
          if (taker) free = free.subtract(part);
        }
      }
      const unreserved = free.unreserved();
      if (!unreserved.isEmpty()) this.pickInOrder(agent.id, unreserved);
    }
    return this.offers;
  }

  /** The roles with clients that may use resources reserved to reservedTo, in policy order. */
  private rolesServing(reservedTo: string): Role[] {
    let roles = this.servedBy.get(reservedTo);
    if (!roles) {
      roles = [...this.roles.values()].filter((r) => r.clients.size > 0 && isRoleOrDescendant(r.name, reservedTo));
      this.servedBy.set(reservedTo, roles);
    }
    return roles.length > 1 ? [...roles].sort((a, b) => (this.roleBefore(a, b) ? -1 : this.roleBefore(b, a) ? 1 : 0)) : roles;
  }

  /** Offers part to the first eligible client of the first role (in the given order) that has one. */
  private pick(roles: readonly Role[], agentId: string, part: Resources): boolean {
    const q = part.quantities();
    if (q.isEmpty()) return false;
    for (const role of roles) {
      const client = role.clients.find((c) => eligible(c, agentId, this.snapshot.now));
      if (client) {
        this.give(role, client, agentId, part, q);
        return true;
      }
    }
    return false;
  }

  /** Offers unreserved resources to the first role in the role heap's order that can take them. */
  private pickInOrder(agentId: string, part: Resources): void {
    const q = part.quantities();
    if (q.isEmpty()) return;
    let taker: Client | undefined;
    const role = this.order.find((r) => (taker = r.clients.find((c) => eligible(c, agentId, this.snapshot.now))) !== undefined);
    if (role && taker) this.give(role, taker, agentId, part, q);
  }

  /** Offers part (whose scalar quantities are q) to client in role. */
  private give(role: Role, client: Client, agentId: string, part: Resources, q: Quantities): void {
    const resources = part.allocate(role.name);
    client.alloc.addAll(q);
    client.share = client.alloc.dominantShare(this.totals);
    role.clients.update(client);
    role.alloc.addAll(q);
    role.share = this.roleShare(role);
    this.order.update(role);
    const frameworkId = client.framework.id;
    for (let i = this.agentStart; i < this.offers.length; i++) {
      const existing = this.offers[i]!;
      if (existing.frameworkId !== frameworkId) continue;
      existing.resources = existing.resources.add(resources);
      existing.taken = existing.taken.add(part);
      return;
    }
    this.offers.push({ frameworkId, agentId, resources, taken: part });
  }
}

function eligible(client: Client, agentId: string, now: number): boolean {
  const until = client.framework.filters.get(agentId);
  return until === undefined || until <= now;
}

/** The offers of one round. Pure: reads the snapshot, changes nothing. */
export function allocateRound(snapshot: AllocationSnapshot, roleOrder: RoleOrder): RoundOffer[] {
  return new Round(snapshot, roleOrder).run();
}
