/**
 * One allocation round, a pure function of a snapshot (Mesos's hierarchical allocator,
 * reduced to its core). Roles form a tree by their '/'-separated names ("eng" above
 * "eng/web"); at every level the policy orders the sibling roles (DRF: lowest weighted
 * dominant share of the subtree first), and inside a role its frameworks are ordered by
 * dominant share. Agents are visited in snapshot order; for each agent:
 *
 * 1. resources reserved to a role go to the first eligible framework in that role's
 *    subtree (the role itself or a role nested below it);
 * 2. unreserved resources go to the first eligible framework walking the whole tree.
 *
 * Eligible: active, the role not suppressed, no live filter on the agent. A framework
 * takes all it is offered on the agent; then its share and its roles' shares grow and
 * the order changes for the next agent. Only resources with some scalar amount are
 * offered (ports or sets alone are no use).
 *
 * A role that has frameworks and also sub-roles with frameworks appears twice: as the
 * inner node of its subtree and as a leaf (its own frameworks) among its sub-roles.
 *
 * With quota (quota.ts) the round has two stages, as in Mesos: first, every agent's
 * unreserved resources go to the roles whose guarantee is not met yet (deepest roles
 * first), as far as they help meet it; then the walk above, where every gift is cut down
 * to the role's limits and, for unreserved resources, to what meets a guarantee or comes
 * out of the surplus headroom, and what is left of an agent goes on to the next framework.
 */
import { Quantities } from "../../resources/quantities.js";
import type { Resources } from "../../resources/resources.js";
import { Heap, type HeapItem } from "../../runtime/heap.js";
import { QuotaBook } from "./quota.js";
import type { RoleOrder, RoleStanding } from "./role-order.js";
import type { AllocationSnapshot, RoundOffer, SnapshotFramework } from "./snapshot.js";

interface Client extends HeapItem {
  readonly framework: SnapshotFramework;
  readonly alloc: Quantities;
  share: number;
}

/** A role in the tree: an inner node (children) or a leaf holding the role's frameworks (clients). */
interface Node extends HeapItem, RoleStanding {
  readonly name: string;
  readonly weight: number;
  /** What the subtree (or, for a leaf, the role itself) holds. */
  readonly alloc: Quantities;
  share: number;
  readonly parent: Node | undefined;
  readonly children: Heap<Node> | undefined;
  readonly clients: Heap<Client> | undefined;
  /** Resources the role (a leaf) is at its limit of in this round: parts holding them are skipped. */
  atLimit?: Set<string>;
  /** Out of its parent's heap for now (see Round.park). */
  parked?: boolean;
}

const byShare = (a: Client, b: Client): boolean => a.share < b.share || (a.share === b.share && a.framework.id < b.framework.id);

function parentRole(role: string): string | undefined {
  const i = role.lastIndexOf("/");
  return i > 0 ? role.slice(0, i) : undefined;
}

class Round {
  private readonly totals: Quantities;
  private readonly root: Node;
  /** Role name → its leaf (own frameworks) and, if it has sub-roles, its inner node. */
  private readonly leaves = new Map<string, Node>();
  private readonly inner = new Map<string, Node>();
  private readonly offers: { frameworkId: string; agentId: string; resources: Resources; taken: Resources }[] = [];
  /** Indexes in offers of the offers on the agent being visited. */
  private agentOffers: number[] = [];
  /** Quota accounting; undefined when no role has quota (the round is plain DRF). */
  private readonly quota: QuotaBook | undefined;
  /**
   * Leaves at a limit, taken out of their parents' heaps so that the walk of every later
   * agent does not visit them again (with quota, roles at their limit keep the lowest
   * shares and would be visited first, again and again). A parked leaf could not take any
   * unreserved part holding a resource it is at its limit of; parkedNames is the union of
   * those resources, so a part holding all of them needs none of the parked leaves. Before
   * any other part (or a reservation to a parked role's subtree), they go back (unpark).
   */
  private readonly parked: Node[] = [];
  private readonly parkedNames = new Set<string>();
  /** How many parked leaves each role has in its subtree (itself included). */
  private readonly parkedUnder = new Map<string, number>();
  /** Leaves found at a limit during a walk, parked once it is over (heaps must not change during one). */
  private readonly toPark: Node[] = [];

  constructor(
    private readonly snapshot: AllocationSnapshot,
    private readonly roleBefore: RoleOrder,
  ) {
    this.root = this.node("", undefined, "inner");
    this.totals = snapshot.totals ?? new Quantities();
    if (!snapshot.totals) for (const agent of snapshot.agents) if (agent.active) this.totals.addAll(agent.total.quantities());
    const clients: { role: string; client: Client }[] = [];
    const allocs: [string, Quantities][] = [];
    const roles = new Set<string>();
    const kept = snapshot.roleAllocated;
    if (kept) {
      for (const [role, q] of kept) {
        allocs.push([role, q]);
        roles.add(role);
      }
    }
    for (const fw of snapshot.frameworks) {
      if (!kept) {
        for (const [role, q] of fw.allocated) {
          allocs.push([role, q]);
          roles.add(role);
        }
      }
      if (!fw.active) continue;
      for (const role of fw.roles) {
        if (fw.suppressedRoles.has(role)) continue;
        const alloc = fw.allocated.get(role)?.clone() ?? new Quantities();
        clients.push({ role, client: { framework: fw, alloc, share: alloc.dominantShare(this.totals), heapIndex: -1 } });
        roles.add(role);
      }
    }
    // Inner nodes for every role that has a sub-role, then a leaf for every role.
    for (const role of roles) for (let p = parentRole(role); p !== undefined; p = parentRole(p)) this.innerNode(p);
    for (const role of roles) this.leaves.set(role, this.node(role, this.inner.get(role) ?? this.innerNode(parentRole(role)), "leaf"));
    for (const [role, q] of allocs) for (let n: Node | undefined = this.leaves.get(role); n; n = n.parent) n.alloc.addAll(q);
    for (const { role, client } of clients) this.leaves.get(role)!.clients!.push(client);
    // Shares, and only subtrees with clients in the heaps.
    for (const leaf of this.leaves.values()) if (leaf.clients!.size > 0) this.enter(leaf);
    this.quota = snapshot.quotas && snapshot.quotas.size > 0 ? new QuotaBook(snapshot.quotas, snapshot) : undefined;
  }

  private innerNode(role: string | undefined): Node {
    if (role === undefined) return this.root;
    let node = this.inner.get(role);
    if (!node) {
      node = this.node(role, this.innerNode(parentRole(role)), "inner");
      this.inner.set(role, node);
    }
    return node;
  }

  private node(name: string, parent: Node | undefined, kind: "inner" | "leaf"): Node {
    return {
      name,
      weight: this.snapshot.weights.get(name) ?? 1,
      alloc: new Quantities(),
      share: 0,
      parent,
      children: kind === "inner" ? new Heap<Node>(this.roleBefore) : undefined,
      clients: kind === "leaf" ? new Heap<Client>(byShare) : undefined,
      heapIndex: -1,
    };
  }

  /** Puts node and its ancestors into their parents' heaps (once), with their shares. */
  private enter(node: Node): void {
    for (let n = node; n.parent && n.heapIndex < 0; n = n.parent) {
      n.share = n.alloc.dominantShare(this.totals) / n.weight;
      n.parent.children!.push(n);
    }
  }

  run(): RoundOffer[] {
    if (this.root.children!.size === 0) return [];
    const afterGuarantees = this.quota ? this.guarantees() : undefined;
    for (const agent of this.snapshot.agents) {
      if (!agent.active || agent.free.isEmpty()) continue;
      const early = afterGuarantees?.get(agent.id);
      this.agentOffers = early ? early.offers : [];
      let free = early ? early.free : agent.free;
      if (free.hasReservations()) {
        for (const reservedTo of free.reservationRoles()) {
          if (this.parked.length > 0) this.unparkUnder(reservedTo);
          const subtree = this.inner.get(reservedTo) ?? this.leaves.get(reservedTo);
          const part = free.reserved(reservedTo);
          const given = subtree && subtree.heapIndex >= 0 ? this.offer(subtree, agent.id, part, reservedTo, false) : undefined;
          if (given) free = free.subtract(given);
        }
      }
      let unreserved = free.unreserved();
      while (!unreserved.isEmpty()) {
        if (this.quota?.headroomNeeded() && !this.quota.surplusFor(unreserved.quantities())) break;
        const given = this.offer(this.root, agent.id, unreserved, undefined, false);
        if (!given || given === unreserved) break; // nothing more, or all of it (always so without quota)
        unreserved = unreserved.subtract(given);
      }
    }
    return this.offers;
  }

  /**
   * The first stage with quota: each agent's unreserved resources go to the roles whose
   * guarantee is unmet, while any is. Returns what is left of the agents it touched and
   * the offers made on them.
   */
  private guarantees(): Map<string, { free: Resources; offers: number[] }> {
    const touched = new Map<string, { free: Resources; offers: number[] }>();
    const quota = this.quota!;
    let candidates = quota.needy().filter((role) => this.subtree(role) !== undefined);
    for (const agent of this.snapshot.agents) {
      if (candidates.length === 0) break;
      if (!agent.active || agent.free.isEmpty()) continue;
      this.agentOffers = [];
      let free = agent.free;
      let unreserved = free.unreserved();
      let q = unreserved.quantities();
      for (const role of candidates) {
        if (q.isEmpty()) break;
        if (!quota.hasNeed(role)) continue;
        this.unparkFor(q);
        const subtree = this.subtree(role);
        if (!subtree) continue; // every leaf under it is parked: none could take this part
        const given = this.offer(subtree, agent.id, unreserved, undefined, true, q);
        if (!given) continue;
        free = free.subtract(given);
        unreserved = free.unreserved();
        q = unreserved.quantities();
      }
      if (this.agentOffers.length === 0) continue;
      touched.set(agent.id, { free, offers: this.agentOffers });
      candidates = candidates.filter((role) => quota.hasNeed(role));
    }
    return touched;
  }

  /** The node of role's subtree if it has frameworks that want offers. */
  private subtree(role: string): Node | undefined {
    const node = this.inner.get(role) ?? this.leaves.get(role);
    return node && node.heapIndex >= 0 ? node : undefined;
  }

  /**
   * Offers part (reserved to reservedTo, or unreserved) to the first eligible framework
   * under node, cut down to its role's quota; returns what was taken, undefined if nothing.
   * With guaranteeOnly, only roles that the gift helps meet a guarantee are eligible.
   */
  private offer(node: Node, agentId: string, part: Resources, reservedTo: string | undefined, guaranteeOnly: boolean, q = part.quantities()): Resources | undefined {
    if (q.isEmpty()) return undefined;
    if (reservedTo === undefined) this.unparkFor(q);
    const found = this.find(node, agentId, part, q, reservedTo, guaranteeOnly);
    for (const leaf of this.toPark) this.park(leaf);
    this.toPark.length = 0;
    if (!found) return undefined;
    this.give(found.leaf, found.client, agentId, found.part, found.q, reservedTo);
    return found.part;
  }

  /** The first eligible client under node, in tree order, and what it may take of part; heaps are left as they were. */
  private find(node: Node, agentId: string, part: Resources, q: Quantities, reservedTo: string | undefined, guaranteeOnly: boolean): Found | undefined {
    if (node.clients) {
      let mine = part;
      let mineQ = q;
      if (this.quota) {
        if (node.atLimit && reservedTo === undefined && holdsAny(q, node.atLimit)) {
          this.toPark.push(node);
          return undefined;
        }
        const cap = this.quota.cap(node.name, q, reservedTo);
        if (cap.atLimit !== undefined) {
          if (reservedTo === undefined) {
            (node.atLimit ??= new Set()).add(cap.atLimit);
            this.toPark.push(node);
          }
          return undefined;
        }
        if (guaranteeOnly && !cap.helps) return undefined;
        if (cap.allowed.size > 0) {
          mine = part.capScalars(cap.allowed);
          mineQ = mine.quantities();
          if (mineQ.isEmpty()) return undefined;
        }
      }
      const now = this.snapshot.now;
      const client = node.clients.find((c) => eligible(c, agentId, now));
      return client && { leaf: node, client, part: mine, q: mineQ };
    }
    let found: Found | undefined;
    node.children!.find((child) => (found = this.find(child, agentId, part, q, reservedTo, guaranteeOnly)) !== undefined);
    return found;
  }

  /** Takes an at-limit leaf out of its parent's heap, and ancestors whose heaps it empties. */
  private park(leaf: Node): void {
    if (leaf.parked || leaf.heapIndex < 0) return;
    leaf.parked = true;
    this.parked.push(leaf);
    for (let r: string | undefined = leaf.name; r !== undefined; r = parentRole(r)) this.parkedUnder.set(r, (this.parkedUnder.get(r) ?? 0) + 1);
    for (const name of leaf.atLimit!) this.parkedNames.add(name);
    for (let n: Node = leaf; n.parent && n.heapIndex >= 0; n = n.parent) {
      n.parent.children!.remove(n);
      if (n.parent.children!.size > 0) break;
    }
  }

  /** Before an unreserved part with q: the parked leaves go back unless q holds every resource they are at a limit of. */
  private unparkFor(q: Quantities): void {
    if (this.parked.length === 0) return;
    for (const name of this.parkedNames) {
      if (q.get(name) > 0) continue;
      for (const leaf of this.parked) leaf.parked = false;
      for (const leaf of this.parked) this.enter(leaf);
      this.parked.length = 0;
      this.parkedNames.clear();
      this.parkedUnder.clear();
      return;
    }
  }

  /** Before resources reserved to role: parked leaves of its subtree go back (limits below a reservation differ). */
  private unparkUnder(role: string): void {
    if (!this.parkedUnder.has(role)) return;
    let kept = 0;
    for (const leaf of this.parked) {
      if (leaf.name === role || (leaf.name.startsWith(role) && leaf.name[role.length] === "/")) this.unpark(leaf);
      else this.parked[kept++] = leaf;
    }
    this.parked.length = kept;
  }

  private unpark(leaf: Node): void {
    leaf.parked = false;
    this.enter(leaf);
    for (let r: string | undefined = leaf.name; r !== undefined; r = parentRole(r)) {
      const n = this.parkedUnder.get(r)! - 1;
      if (n === 0) this.parkedUnder.delete(r);
      else this.parkedUnder.set(r, n);
    }
  }

  /** Offers part (whose scalar quantities are q) to client in leaf's role; shares grow up the tree. */
  private give(leaf: Node, client: Client, agentId: string, part: Resources, q: Quantities, reservedTo: string | undefined): void {
    const resources = part.allocate(leaf.name);
    client.alloc.addAll(q);
    client.share = client.alloc.dominantShare(this.totals);
    leaf.clients!.update(client);
    for (let n = leaf; n.parent; n = n.parent) {
      n.alloc.addAll(q);
      n.share = n.alloc.dominantShare(this.totals) / n.weight;
      n.parent.children!.update(n);
    }
    this.quota?.charge(leaf.name, q, reservedTo);
    const frameworkId = client.framework.id;
    for (const i of this.agentOffers) {
      const existing = this.offers[i]!;
      if (existing.frameworkId !== frameworkId) continue;
      existing.resources = existing.resources.add(resources);
      existing.taken = existing.taken.add(part);
      return;
    }
    this.agentOffers.push(this.offers.length);
    this.offers.push({ frameworkId, agentId, resources, taken: part });
  }
}

interface Found {
  leaf: Node;
  client: Client;
  /** What the client may take (part cut down to its role's quota) and its scalars. */
  part: Resources;
  q: Quantities;
}

function holdsAny(q: Quantities, names: ReadonlySet<string>): boolean {
  for (const name of names) if (q.get(name) > 0) return true;
  return false;
}

function eligible(client: Client, agentId: string, now: number): boolean {
  const until = client.framework.filters.get(agentId);
  return until === undefined || until <= now;
}

/** The offers of one round. Pure: reads the snapshot, changes nothing. */
export function allocateRound(snapshot: AllocationSnapshot, roleOrder: RoleOrder): RoundOffer[] {
  return new Round(snapshot, roleOrder).run();
}
