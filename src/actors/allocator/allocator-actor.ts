/**
 * The allocator actor: keeps the books (what each agent has, what each framework holds
 * where, filters, suppressed roles, weights), runs a round of its policy every allocation
 * interval and soon after a change that frees resources or adds a taker, applies the
 * round's offers to the books and hands them to the master's callback.
 *
 * Every method runs inside the actor (the facade in allocator-facade.ts dispatches to it).
 * Calls that make no sense (unknown ids, invalid resources) are logged, counted under
 * `allocator/dropped/<reason>` and ignored: the allocator never throws at the master.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { Counter, Samples } from "../../metrics/metrics.js";
import { Quantities } from "../../resources/quantities.js";
import { allocationRole } from "../../resources/resource.js";
import { Resources } from "../../resources/resources.js";
import { isRoleOrDescendant, roleProblem } from "../../resources/roles.js";
import { roundScalar } from "../../resources/scalar.js";
import { Actor } from "../../runtime/actor.js";
import type { Timer } from "../../runtime/clock.js";
import type { AllocatorAgent, AllocatorFramework, AllocatorMetrics, OfferCallback, OfferDecision, RoleQuota } from "./allocator.js";
import type { AllocationPolicy } from "./policies.js";
import type { AllocationSnapshot, RoundOffer, SnapshotAgent, SnapshotFramework } from "./snapshot.js";

export const DEFAULT_ALLOCATION_INTERVAL_MS = 1000;

/**
 * How a round over many agents is cut so that no turn of the master's event loop grows with
 * the cluster: the round visits `agents` agents at a time (offering what each part found at
 * once) and, once a turn has taken `budgetMs`, goes on with the next part in a later turn.
 * At 50,000 agents × 200 frameworks the first round of a fill offered every agent in one
 * turn of seconds (the round, then 50,000 offers encoded and written), longer than the
 * Raft election timeout. DRF order is kept across parts: every part starts from the books
 * the parts before it left, as the next agent of an uncut round does.
 */
export interface RoundSlicing {
  /** Agents visited between looks at the clock (default 256). */
  agents: number;
  /** A turn stops after the part that took it past this (default 20 ms; 0: one part per turn). */
  budgetMs: number;
}

export const DEFAULT_ROUND_SLICING: RoundSlicing = { agents: 256, budgetMs: 20 };

/** A round cut in parts and not over yet. */
interface SlicedRound {
  readonly agents: readonly AgentBook[];
  next: number;
  /** Time spent in its parts so far (ms). */
  ms: number;
  /** Offers made by its parts so far. */
  offered: number;
  timer: Timer | undefined;
  /** Waiting for the master to act on the last part's offers (see OfferCallback). */
  waiting: boolean;
}
/** Resources whose totals and allocation are reported as gauges (as Mesos does). */
const REPORTED_RESOURCES = ["cpus", "mem", "disk", "gpus"];
/** Longest filter honoured (Mesos caps refuse_seconds at a year too). */
const MAX_REFUSE_SECONDS = 365 * 24 * 3600;

const NO_FRAMEWORKS: readonly string[] = Object.freeze([]);

class AgentBook implements SnapshotAgent {
  free: Resources;
  /**
   * The frameworks that hold something here, in the order they came (what each holds is its
   * book's `held`): a list at its length, not a Map (~190 bytes each, one per agent after a
   * failover) with a second copy of what they hold.
   */
  holders: readonly string[] = NO_FRAMEWORKS;
  constructor(
    readonly id: string,
    public info: AllocatorAgent,
    public total: Resources,
    public active: boolean,
  ) {
    this.free = total;
  }
}

class FrameworkBook implements SnapshotFramework {
  readonly suppressedRoles = new Set<string>();
  /** Agent id → what it holds there (with allocation roles). */
  readonly held = new Map<string, Resources>();
  readonly allocated = new Map<string, Quantities>();
  readonly filters = new Map<string, number>();
  constructor(
    readonly id: string,
    public roles: readonly string[],
    public active: boolean,
  ) {}
}

export type DropReason =
  | "unknown_framework"
  | "unknown_agent"
  | "duplicate_framework"
  | "duplicate_agent"
  | "invalid_resources"
  | "invalid_roles"
  | "recovered_more_than_allocated";

export class AllocatorActor extends Actor {
  private readonly agents = new Map<string, AgentBook>();
  /** Agents added since the start (a line at info per 1,000). */
  private agentsAdded = 0;
  private readonly frameworks = new Map<string, FrameworkBook>();
  private weights = new Map<string, number>();
  private quotas = new Map<string, RoleQuota>();
  /** The per-role quota gauges now registered. */
  private readonly quotaGauges = new Set<string>();
  private offerCallback: OfferCallback | undefined;
  private intervalTimer: Timer | undefined;
  private soonTimer: Timer | undefined;
  /**
   * What the next soon round visits: the agents whose resources came back or changed since
   * the last round (a round over them alone, as Mesos's allocate(agentId)), or every agent
   * when a framework may take more (added, activated, revived) or quota needs the whole view.
   */
  private readonly soonAgents = new Set<string>();
  private soonAll = false;
  /** Scalar totals of the active agents, kept as agents come, go and change (shares are fractions of it). */
  private readonly activeTotal = new Quantities();
  /** What each role holds (offered or used) over all its frameworks, kept as they take and give back (AllocationSnapshot.roleAllocated). */
  private readonly roleAllocated = new Map<string, Quantities>();
  private runsCounter!: Counter;
  private runMs!: Samples;
  private readonly drops = new Map<DropReason, Counter>();
  private lastRunMs = 0;
  private stopped = false;
  /** The round being made in parts, if any (see RoundSlicing). */
  private sliced: SlicedRound | undefined;
  private slicesCounter!: Counter;

  constructor(
    name: string,
    private readonly policy: AllocationPolicy,
    private readonly intervalMs: number,
    weights: ReadonlyMap<string, number> | undefined,
    private readonly slicing: RoundSlicing = DEFAULT_ROUND_SLICING,
  ) {
    super(name);
    if (weights) this.weights = new Map(weights);
  }

  private sums: { total: Quantities; free: Quantities } | undefined;

  override initialize(): void {
    const m = this.system.metrics;
    this.runsCounter = m.counter("allocator/allocation_runs", "Allocation rounds run");
    this.runMs = m.sampled("allocator/allocation_run_ms", "Milliseconds one allocation round took (the sum of its parts when cut in slices)");
    this.slicesCounter = m.counter("allocator/allocation_slices", "Turns of the event loop that allocation rounds took (a round over many agents is cut in parts)");
    m.gauge("allocator/frameworks", () => this.frameworks.size, "Frameworks the allocator knows");
    m.gauge("allocator/agents", () => this.agents.size, "Agents the allocator knows");
    m.gauge("allocator/offer_filters/active", () => this.activeFilters(), "Framework/agent filters not yet expired");
    for (const name of REPORTED_RESOURCES) {
      m.gauge(`allocator/resources/${name}/total`, () => roundScalar(this.agentSums().total.get(name)), `Total ${name} of the agents`);
      m.gauge(
        `allocator/resources/${name}/offered_or_allocated`,
        () => roundScalar(this.agentSums().total.get(name) - this.agentSums().free.get(name)),
        `${name} offered to or used by frameworks`,
      );
    }
    this.log.info({ policy: this.policy.name, intervalMs: this.intervalMs }, `Allocator started with policy ${this.policy.name}`);
    this.armInterval();
  }

  override finalize(): void {
    this.intervalTimer?.cancel();
    this.soonTimer?.cancel();
    this.cancelSliced();
  }

  // ---- the calls of the Allocator interface --------------------------------------------

  setOfferCallback(offer: OfferCallback): void {
    this.offerCallback = offer;
    this.soon();
  }

  addFramework(id: string, info: AllocatorFramework, used: ReadonlyMap<string, readonly Resource[]>): void {
    if (this.frameworks.has(id)) return this.drop("duplicate_framework", `Ignoring addFramework for ${id} because it is already added`);
    if (!this.validRoles(id, info.roles)) return;
    const fw = new FrameworkBook(id, [...info.roles], info.active);
    this.setSuppressed(fw, info.suppressedRoles);
    this.frameworks.set(id, fw);
    for (const [agentId, resources] of used) {
      const agent = this.agents.get(agentId);
      const res = this.toResources(resources, `addFramework ${id} on agent ${agentId}`);
      if (!agent) this.drop("unknown_agent", `Not counting what framework ${id} uses on agent ${agentId} because the agent is not added`);
      else if (res) this.hold(fw, agent, this.withRoles(fw, res));
    }
    this.log.info({ framework: id, roles: fw.roles }, `Added framework ${id} with roles ${fw.roles.join(", ")}`);
    this.soon();
  }

  updateFramework(id: string, info: AllocatorFramework): void {
    const fw = this.framework(id, "updateFramework");
    if (!fw || !this.validRoles(id, info.roles)) return;
    fw.roles = [...info.roles];
    fw.active = info.active;
    this.setSuppressed(fw, info.suppressedRoles);
    this.soon();
  }

  activateFramework(id: string): void {
    const fw = this.framework(id, "activateFramework");
    if (!fw) return;
    fw.active = true;
    this.soon();
  }

  deactivateFramework(id: string): void {
    const fw = this.framework(id, "deactivateFramework");
    if (fw) fw.active = false;
  }

  removeFramework(id: string): void {
    const fw = this.framework(id, "removeFramework");
    if (!fw) return;
    for (const [agentId, held] of fw.held) {
      const agent = this.agents.get(agentId)!;
      agent.holders = agent.holders.filter((f) => f !== id);
      agent.free = agent.free.add(held.unallocated());
    }
    for (const [role, q] of fw.allocated) this.countRole(role, q, -1);
    this.frameworks.delete(id);
    this.log.info({ framework: id }, `Removed framework ${id}; its resources are free again`);
    this.soon();
  }

  addAgent(id: string, info: AllocatorAgent, used: ReadonlyMap<string, readonly Resource[]>): void {
    if (this.agents.has(id)) return this.drop("duplicate_agent", `Ignoring addAgent for ${id} because it is already added`);
    const total = info.parsedTotal ?? this.toResources(info.total, `addAgent ${id}`);
    if (!total) return;
    const agent = new AgentBook(id, info, total, false);
    this.setActive(agent, info.active);
    this.agents.set(id, agent);
    for (const [frameworkId, resources] of used) {
      const fw = this.frameworks.get(frameworkId);
      const res = this.toResources(resources, `addAgent ${id} used by ${frameworkId}`);
      if (!fw) this.drop("unknown_framework", `Not counting what framework ${frameworkId} uses on agent ${id} because the framework is not added`);
      else if (res) this.hold(fw, agent, this.withRoles(fw, res));
    }
    // Thousands come at once after a failover (a line each, its resources formatted, was 1-2%
    // of a new leader's CPU per reregistering agent): at debug, with a line per 1,000 at info.
    this.agentsAdded++;
    if (this.agentsAdded % 1000 === 0) this.log.info({ added: this.agentsAdded, agents: this.agents.size }, `${this.agentsAdded} agents added so far (the last ${id})`);
    if (this.log.isLevelEnabled("debug")) this.log.debug({ agent: id, total: String(total) }, `Added agent ${id} (${info.hostname}) with ${total}`);
    this.soon(id);
  }

  updateAgent(id: string, total: readonly Resource[]): void {
    const agent = this.agent(id, "updateAgent");
    const res = agent && this.toResources(total, `updateAgent ${id}`);
    if (!agent || !res) return;
    this.setTotal(agent, res);
    let free = res;
    for (const [, held] of this.heldOn(agent)) free = free.subtract(held.unallocated());
    agent.free = free;
    this.soon(id);
  }

  updateAllocation(frameworkId: string, agentId: string, consumed: readonly Resource[], converted: readonly Resource[]): void {
    const fw = this.framework(frameworkId, "updateAllocation");
    const agent = fw && this.agent(agentId, "updateAllocation");
    const from = agent && this.toResources(consumed, `updateAllocation of ${frameworkId} on ${agentId}`);
    const to = from && this.toResources(converted, `updateAllocation of ${frameworkId} on ${agentId}`);
    if (!fw || !agent || !from || !to) return;
    const held = fw.held.get(agentId) ?? Resources.empty();
    if (!held.contains(from)) {
      this.drop("recovered_more_than_allocated", `Ignoring updateAllocation of ${frameworkId} on ${agentId}: it does not hold ${from}`);
      return;
    }
    this.release(fw, agent, from);
    this.setTotal(agent, agent.total.subtract(from.unallocated()).add(to.unallocated()));
    agent.free = agent.free.subtract(from.unallocated());
    this.hold(fw, agent, to, Resources.empty());
    this.log.info({ framework: frameworkId, agent: agentId, from: String(from), to: String(to) }, `Framework ${frameworkId} turned ${from} into ${to} on agent ${agentId}`);
  }

  activateAgent(id: string): void {
    const agent = this.agent(id, "activateAgent");
    if (!agent) return;
    this.setActive(agent, true);
    this.soon(id);
  }

  deactivateAgent(id: string): void {
    const agent = this.agent(id, "deactivateAgent");
    if (agent) this.setActive(agent, false);
  }

  removeAgent(id: string): void {
    const agent = this.agent(id, "removeAgent");
    if (!agent) return;
    for (const [fw, held] of this.heldOn(agent)) {
      fw.held.delete(id);
      fw.filters.delete(id);
      this.count(fw, held, -1);
    }
    this.setActive(agent, false);
    this.agents.delete(id);
    this.soonAgents.delete(id);
    for (const fw of this.frameworks.values()) fw.filters.delete(id);
    this.log.info({ agent: id }, `Removed agent ${id}`);
  }

  recoverResources(frameworkId: string, agentId: string, resources: readonly Resource[], refuseSeconds?: number): void {
    const fw = this.framework(frameworkId, "recoverResources");
    const agent = fw && this.agent(agentId, "recoverResources");
    const res = agent && this.toResources(resources, `recoverResources of ${frameworkId} on ${agentId}`);
    if (!fw || !agent || !res) return;
    const held = fw.held.get(agentId) ?? Resources.empty();
    let back = this.withRoles(fw, res);
    if (!held.contains(back)) {
      const heldPart = held.subtract(held.subtract(back));
      this.drop(
        "recovered_more_than_allocated",
        `Recovering only ${heldPart} of ${back} for framework ${frameworkId} on agent ${agentId}: the rest was not allocated to it`,
      );
      back = heldPart;
    }
    this.release(fw, agent, back);
    if (refuseSeconds !== undefined && refuseSeconds > 0 && Number.isFinite(refuseSeconds)) {
      const until = this.clock.now() + Math.min(refuseSeconds, MAX_REFUSE_SECONDS) * 1000;
      fw.filters.set(agentId, Math.max(until, fw.filters.get(agentId) ?? 0));
    }
    if (!back.isEmpty()) this.soon(agentId);
  }

  suppressOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId, "suppressOffers");
    if (!fw) return;
    for (const role of roles && roles.length > 0 ? roles : fw.roles) fw.suppressedRoles.add(role);
    this.log.info({ framework: frameworkId, suppressed: [...fw.suppressedRoles] }, `Framework ${frameworkId} suppressed offers`);
  }

  reviveOffers(frameworkId: string, roles?: readonly string[]): void {
    const fw = this.framework(frameworkId, "reviveOffers");
    if (!fw) return;
    fw.filters.clear();
    for (const role of roles && roles.length > 0 ? roles : fw.roles) fw.suppressedRoles.delete(role);
    this.log.info({ framework: frameworkId, suppressed: [...fw.suppressedRoles] }, `Framework ${frameworkId} revived offers`);
    this.soon();
  }

  updateWeights(weights: ReadonlyMap<string, number>): void {
    for (const [role, w] of weights) {
      if (!(w > 0) || !Number.isFinite(w)) {
        this.drop("invalid_roles", `Ignoring weight ${w} for role '${role}': weights must be finite and > 0`);
        continue;
      }
      this.weights.set(role, w);
    }
  }

  updateQuota(quotas: ReadonlyMap<string, RoleQuota>): void {
    const next = new Map<string, RoleQuota>();
    for (const [role, q] of quotas) {
      const problem = role === "*" ? "the default role '*' cannot have quota" : roleProblem(role);
      const bad = [...q.guarantees, ...q.limits].find(([, v]) => !(v >= 0) || !Number.isFinite(v));
      if (problem || bad) {
        this.drop("invalid_roles", `Ignoring the quota of role '${role}': ${problem ?? `${bad![0]} must be a finite number >= 0, not ${bad![1]}`}`);
        continue;
      }
      next.set(role, { guarantees: new Map(q.guarantees), limits: new Map(q.limits) });
    }
    this.quotas = next;
    this.registerQuotaGauges();
    this.log.info({ roles: [...next.keys()] }, `Quota set for ${next.size} role(s)${next.size > 0 ? `: ${[...next.keys()].join(", ")}` : ""}`);
    this.soon();
  }

  /** `allocator/mesos/quota/roles/<role>/resources/<r>/{guarantee,limit,offered_or_allocated}`, as Mesos reports them. */
  private registerQuotaGauges(): void {
    const m = this.system.metrics;
    const wanted = new Map<string, () => number>();
    for (const [role, q] of this.quotas) {
      const prefix = `allocator/mesos/quota/roles/${role}/resources`;
      for (const name of new Set([...q.guarantees.keys(), ...q.limits.keys()])) {
        if (q.guarantees.has(name)) wanted.set(`${prefix}/${name}/guarantee`, () => this.quotas.get(role)?.guarantees.get(name) ?? 0);
        if (q.limits.has(name)) wanted.set(`${prefix}/${name}/limit`, () => this.quotas.get(role)?.limits.get(name) ?? 0);
        wanted.set(`${prefix}/${name}/offered_or_allocated`, () => this.consumedBy(role, name));
      }
    }
    for (const key of this.quotaGauges) if (!wanted.has(key)) m.remove(key);
    this.quotaGauges.clear();
    for (const [key, read] of wanted) {
      m.gauge(key, read, "Role quota (guarantee, limit) and what the role holds of it");
      this.quotaGauges.add(key);
    }
  }

  /** What role and its sub-roles hold of name (offered or used), reservations on free resources included. */
  private consumedBy(role: string, name: string): number {
    let sum = 0;
    const mine = (r: string): boolean => isRoleOrDescendant(r, role);
    for (const fw of this.frameworks.values()) for (const [r, q] of fw.allocated) if (mine(r)) sum += q.get(name);
    for (const agent of this.agents.values()) for (const r of agent.free.reservationRoles()) if (mine(r)) sum += agent.free.reserved(r).scalar(name);
    return roundScalar(sum);
  }

  metrics(): AllocatorMetrics {
    return { allocationRuns: this.runsCounter?.value ?? 0, lastAllocationRunMs: this.lastRunMs };
  }

  stop(): void {
    this.stopped = true;
    this.intervalTimer?.cancel();
    this.soonTimer?.cancel();
    this.cancelSliced();
  }

  // ---- rounds -----------------------------------------------------------------------------

  /**
   * Runs one round over every agent now, in one turn (tests and the benchmark); returns the
   * decisions. A round being made in parts is over with it.
   */
  allocate(): OfferDecision[] {
    this.soonAll = false;
    this.soonAgents.clear();
    this.cancelSliced();
    const started = performance.now();
    const { decisions } = this.visit(this.snapshot());
    this.finished(performance.now() - started, decisions.length);
    return decisions;
  }

  /** A round over these agents (every agent, or the ones whose resources changed), in parts (RoundSlicing). */
  private allocateInSlices(agents: readonly AgentBook[]): void {
    // With quota a round needs every agent at once (the headroom is a sum over all of them).
    if (this.quotas.size > 0) {
      this.allocate();
      return;
    }
    this.cancelSliced();
    this.sliced = { agents, next: 0, ms: 0, offered: 0, timer: undefined, waiting: false };
    this.continueSliced();
  }

  private readonly continueSliced = (): void => {
    const r = this.sliced;
    if (!r || this.stopped) return;
    r.timer = undefined;
    r.waiting = false;
    this.slicesCounter.inc();
    const started = performance.now();
    while (r.next < r.agents.length) {
      const part: AgentBook[] = [];
      const end = Math.min(r.agents.length, r.next + Math.max(1, this.slicing.agents));
      // An agent removed since the round began is no longer visited.
      for (let i = r.next; i < end; i++) if (this.agents.get(r.agents[i]!.id) === r.agents[i]) part.push(r.agents[i]!);
      r.next = end;
      const made = this.visit(this.snapshot(part));
      r.offered += made.decisions.length;
      if (r.next >= r.agents.length) break;
      if (made.handled) {
        // The next part once the master has acted on these offers (and on what it heard before them).
        r.ms += performance.now() - started;
        r.waiting = true;
        const resume = (): void => {
          if (this.sliced === r && r.waiting) this.system.enqueueFunction(this, this.continueSliced);
        };
        made.handled.then(resume, resume);
        return;
      }
      if (performance.now() - started >= this.slicing.budgetMs) {
        r.ms += performance.now() - started;
        r.timer = this.delay(0, this.continueSliced);
        return;
      }
    }
    r.ms += performance.now() - started;
    this.sliced = undefined;
    this.finished(r.ms, r.offered);
    // Rounds asked for while this one was being made.
    if (this.soonAll || this.soonAgents.size > 0) this.armSoon();
  };

  private cancelSliced(): void {
    this.sliced?.timer?.cancel();
    this.sliced = undefined;
  }

  /** Whether a round is being made in parts (tests). */
  get roundInParts(): boolean {
    return this.sliced !== undefined;
  }

  /**
   * One round, or one part of a round, over the snapshot's agents: applied to the books and
   * offered; `handled` settles once the master has acted on the offers, if it says.
   */
  private visit(snapshot: AllocationSnapshot): { decisions: OfferDecision[]; handled: PromiseLike<void> | undefined } {
    if (!this.offerCallback) return { decisions: [], handled: undefined };
    const offers = this.policy.allocate(snapshot);
    if (offers.length === 0) return { decisions: [], handled: undefined };
    for (const offer of offers) this.apply(offer);
    const decisions = offers.map((o) => ({ frameworkId: o.frameworkId, agentId: o.agentId, resources: o.resources.toProto() }));
    const handled = this.offerCallback(decisions);
    return { decisions, handled: typeof handled?.then === "function" ? handled : undefined };
  }

  private finished(ms: number, offers: number): void {
    if (!this.offerCallback) return;
    this.lastRunMs = ms;
    this.runsCounter.inc();
    this.runMs.observe(ms);
    if (offers > 0) this.log.debug({ offers, ms }, `Allocation round made ${offers} offer(s)`);
  }

  /** The books as a round sees them: over every agent, or over `agents` only. */
  snapshot(agents?: readonly AgentBook[]): AllocationSnapshot {
    return {
      now: this.clock.now(),
      agents: agents ?? [...this.agents.values()],
      frameworks: [...this.frameworks.values()],
      weights: this.weights,
      quotas: this.quotas,
      totals: this.activeTotal,
      roleAllocated: this.roleAllocated,
    };
  }

  private armInterval(): void {
    if (this.stopped) return;
    this.intervalTimer = this.delay(this.intervalMs, () => {
      // A round still being made in parts: the interval's round over every agent follows it.
      if (this.sliced) this.soonAll = true;
      else {
        this.soonAll = false;
        this.soonAgents.clear();
        this.allocateInSlices([...this.agents.values()]);
      }
      this.armInterval();
    });
  }

  /**
   * A round soon (batched with whatever else arrives meanwhile): over agentId's resources
   * (and those of the other agents named meanwhile), or over every agent without one. With
   * quota every round sees every agent (the headroom is a sum over all of them).
   */
  private soon(agentId?: string): void {
    if (this.stopped) return;
    if (agentId === undefined) this.soonAll = true;
    else this.soonAgents.add(agentId);
    this.armSoon();
  }

  private armSoon(): void {
    if (this.stopped || this.soonTimer) return;
    this.soonTimer = this.delay(0, () => {
      this.soonTimer = undefined;
      // Asked for while a round is being made in parts: run when it is over (continueSliced).
      if (this.sliced) return;
      if (this.soonAll || this.quotas.size > 0) {
        this.soonAll = false;
        this.soonAgents.clear();
        this.allocateInSlices([...this.agents.values()]);
      } else if (this.soonAgents.size > 0) {
        const agents: AgentBook[] = [];
        for (const id of this.soonAgents) {
          const agent = this.agents.get(id);
          if (agent) agents.push(agent);
        }
        this.soonAgents.clear();
        this.allocateInSlices(agents);
      }
    });
  }

  /** Sets an agent's total, keeping the active agents' sum. */
  private setTotal(agent: AgentBook, total: Resources): void {
    if (agent.active) this.activeTotal.addAll(agent.total.quantities(), -1).addAll(total.quantities());
    agent.total = total;
  }

  /** Activates or deactivates an agent, keeping the active agents' sum. */
  private setActive(agent: AgentBook, active: boolean): void {
    if (agent.active !== active) this.activeTotal.addAll(agent.total.quantities(), active ? 1 : -1);
    agent.active = active;
  }

  private apply(offer: RoundOffer): void {
    const fw = this.frameworks.get(offer.frameworkId)!;
    const agent = this.agents.get(offer.agentId)!;
    this.hold(fw, agent, offer.resources, offer.taken);
  }

  // ---- books ------------------------------------------------------------------------------

  /** The frameworks holding something on agent, with what each holds there. */
  private *heldOn(agent: AgentBook): Generator<[FrameworkBook, Resources]> {
    for (const id of agent.holders) {
      const fw = this.frameworks.get(id)!;
      yield [fw, fw.held.get(agent.id)!];
    }
  }

  /** Framework fw now holds res (with allocation roles; taken is res without them) on agent. */
  private hold(fw: FrameworkBook, agent: AgentBook, res: Resources, taken = res.unallocated()): void {
    const before = fw.held.get(agent.id);
    fw.held.set(agent.id, (before ?? Resources.empty()).add(res));
    if (!before) agent.holders = agent.holders.concat(fw.id); // concat: at its length (a spread leaves room)
    agent.free = agent.free.subtract(taken);
    this.count(fw, res, 1);
  }

  /** Framework fw no longer holds res (a part of what it holds) on agent. */
  private release(fw: FrameworkBook, agent: AgentBook, res: Resources): void {
    const held = (fw.held.get(agent.id) ?? Resources.empty()).subtract(res);
    if (held.isEmpty()) {
      fw.held.delete(agent.id);
      agent.holders = agent.holders.filter((f) => f !== fw.id);
    } else fw.held.set(agent.id, held);
    agent.free = agent.free.add(res.unallocated());
    this.count(fw, res, -1);
  }

  private count(fw: FrameworkBook, res: Resources, sign: 1 | -1): void {
    for (const [role, change] of res.quantitiesByAllocationRole()) {
      const q = fw.allocated.get(role);
      if (!q) {
        if (sign > 0) {
          fw.allocated.set(role, change);
          this.countRole(role, change, 1);
        }
        continue;
      }
      q.addAll(change, sign);
      if (q.isEmpty()) fw.allocated.delete(role);
      this.countRole(role, change, sign);
    }
  }

  /** Keeps the role's sum over its frameworks (roleAllocated) as one of them takes or gives back change. */
  private countRole(role: string, change: Quantities, sign: 1 | -1): void {
    const sum = this.roleAllocated.get(role);
    if (!sum) {
      if (sign > 0) this.roleAllocated.set(role, change.clone());
      return;
    }
    sum.addAll(change, sign);
    if (sum.isEmpty()) this.roleAllocated.delete(role);
  }

  /** Resources without an allocation role are taken to be allocated to the framework's first role. */
  private withRoles(fw: FrameworkBook, res: Resources): Resources {
    const bare = res.filter((r) => allocationRole(r) === undefined);
    return bare.isEmpty() ? res : res.subtract(bare).add(bare.allocate(fw.roles[0]!));
  }

  private setSuppressed(fw: FrameworkBook, roles: readonly string[] | undefined): void {
    fw.suppressedRoles.clear();
    for (const role of roles ?? []) fw.suppressedRoles.add(role);
  }

  /**
   * The agents' total and free scalars, summed in one pass for all the resource gauges a
   * snapshot reads in one go (kept until the current task ends: 8 gauges, not 8 passes over
   * 10,000 agents).
   */
  private agentSums(): { total: Quantities; free: Quantities } {
    if (!this.sums) {
      const sums = (this.sums = { total: new Quantities(), free: new Quantities() });
      for (const a of this.agents.values()) {
        a.total.addScalarsTo(sums.total);
        a.free.addScalarsTo(sums.free);
      }
      queueMicrotask(() => (this.sums = undefined));
    }
    return this.sums;
  }

  private activeFilters(): number {
    const now = this.clock.now();
    let n = 0;
    for (const fw of this.frameworks.values()) for (const until of fw.filters.values()) if (until > now) n++;
    return n;
  }

  // ---- guards -----------------------------------------------------------------------------

  private framework(id: string, call: string): FrameworkBook | undefined {
    const fw = this.frameworks.get(id);
    if (!fw) this.drop("unknown_framework", `Ignoring ${call} for framework ${id} because it is not added`);
    return fw;
  }

  private agent(id: string, call: string): AgentBook | undefined {
    const agent = this.agents.get(id);
    if (!agent) this.drop("unknown_agent", `Ignoring ${call} for agent ${id} because it is not added`);
    return agent;
  }

  private validRoles(id: string, roles: readonly string[]): boolean {
    if (roles.length === 0) {
      this.drop("invalid_roles", `Ignoring framework ${id} because it has no roles`);
      return false;
    }
    for (const role of roles) {
      const problem = roleProblem(role);
      if (problem) {
        this.drop("invalid_roles", `Ignoring framework ${id} because its role '${role}' is invalid: ${problem}`);
        return false;
      }
    }
    return true;
  }

  private toResources(list: readonly Resource[], what: string): Resources | undefined {
    try {
      return Resources.of(list);
    } catch (err) {
      this.drop("invalid_resources", `Ignoring ${what}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private drop(reason: DropReason, why: string): void {
    let c = this.drops.get(reason);
    if (!c) this.drops.set(reason, (c = this.system.metrics.counter(`allocator/dropped/${reason}`, `Allocator calls ignored: ${reason}`)));
    c.inc();
    this.log.warn({ reason }, why);
  }
}
