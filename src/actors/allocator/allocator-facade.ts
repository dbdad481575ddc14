/**
 * `createAllocator(policy, system, options)`: spawns the allocator actor for the named
 * policy and returns the `Allocator` the master talks to. Each call becomes a mailbox
 * item of the actor, in the order the master made them.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import { Code, DcosError } from "../../runtime/error.js";
import { Facade } from "../../runtime/facade.js";
import type { ActorSystem } from "../../runtime/system.js";
import type { Allocator, AllocatorAgent, AllocatorFramework, AllocatorMetrics, AllocatorOptions, OfferCallback, RoleQuota } from "./allocator.js";
import { AllocatorActor, DEFAULT_ALLOCATION_INTERVAL_MS, DEFAULT_ROUND_SLICING, type RoundSlicing } from "./allocator-actor.js";
import { createPolicy } from "./policies.js";

export interface CreateAllocatorOptions extends AllocatorOptions {
  /** The actor's name (default "allocator"). */
  name?: string;
  /** How rounds over many agents are cut in parts (default DEFAULT_ROUND_SLICING). */
  roundSlicing?: Partial<RoundSlicing>;
}

class AllocatorFacade extends Facade<AllocatorActor> implements Allocator {
  constructor(
    actor: AllocatorActor,
    readonly policy: string,
  ) {
    super(actor);
  }

  /** One-way: runs fn inside the actor; a failure is logged, never thrown at the caller. */
  private tell(what: string, fn: (a: AllocatorActor) => void): void {
    this.call(fn).catch((err: unknown) => this.actor.system.log.error({ err }, `Allocator call ${what} failed`));
  }

  initialize(offer: OfferCallback): void {
    this.tell("initialize", (a) => a.setOfferCallback(offer));
  }
  addFramework(frameworkId: string, framework: AllocatorFramework, used: ReadonlyMap<string, readonly Resource[]>): void {
    this.tell("addFramework", (a) => a.addFramework(frameworkId, framework, used));
  }
  updateFramework(frameworkId: string, framework: AllocatorFramework): void {
    this.tell("updateFramework", (a) => a.updateFramework(frameworkId, framework));
  }
  activateFramework(frameworkId: string): void {
    this.tell("activateFramework", (a) => a.activateFramework(frameworkId));
  }
  deactivateFramework(frameworkId: string): void {
    this.tell("deactivateFramework", (a) => a.deactivateFramework(frameworkId));
  }
  removeFramework(frameworkId: string): void {
    this.tell("removeFramework", (a) => a.removeFramework(frameworkId));
  }
  addAgent(agentId: string, agent: AllocatorAgent, used: ReadonlyMap<string, readonly Resource[]>): void {
    this.tell("addAgent", (a) => a.addAgent(agentId, agent, used));
  }
  updateAgent(agentId: string, total: readonly Resource[]): void {
    this.tell("updateAgent", (a) => a.updateAgent(agentId, total));
  }
  updateAllocation(frameworkId: string, agentId: string, consumed: readonly Resource[], converted: readonly Resource[]): void {
    this.tell("updateAllocation", (a) => a.updateAllocation(frameworkId, agentId, consumed, converted));
  }
  activateAgent(agentId: string): void {
    this.tell("activateAgent", (a) => a.activateAgent(agentId));
  }
  deactivateAgent(agentId: string): void {
    this.tell("deactivateAgent", (a) => a.deactivateAgent(agentId));
  }
  removeAgent(agentId: string): void {
    this.tell("removeAgent", (a) => a.removeAgent(agentId));
  }
  recoverResources(frameworkId: string, agentId: string, resources: readonly Resource[], refuseSeconds?: number): void {
    this.tell("recoverResources", (a) => a.recoverResources(frameworkId, agentId, resources, refuseSeconds));
  }
  suppressOffers(frameworkId: string, roles?: readonly string[]): void {
    this.tell("suppressOffers", (a) => a.suppressOffers(frameworkId, roles));
  }
  reviveOffers(frameworkId: string, roles?: readonly string[]): void {
    this.tell("reviveOffers", (a) => a.reviveOffers(frameworkId, roles));
  }
  updateWeights(weights: ReadonlyMap<string, number>): void {
    const copy = new Map(weights);
    this.tell("updateWeights", (a) => a.updateWeights(copy));
  }
  updateQuota(quotas: ReadonlyMap<string, RoleQuota>): void {
    const copy = new Map(quotas);
    this.tell("updateQuota", (a) => a.updateQuota(copy));
  }
  metrics(): AllocatorMetrics {
    return this.actor.metrics();
  }
  stop(): void {
    this.tell("stop", (a) => a.stop());
  }
}

/**
 * The allocator for the policy named policy ("hierarchical-drf" or "strict-priority");
 * INVALID_ARGUMENT for an unknown name (listing the known ones) or a bad option.
 */
export function createAllocator(policy: string, system: ActorSystem, options: CreateAllocatorOptions = {}): Allocator {
  const p = createPolicy(policy);
  const interval = options.allocationIntervalMs ?? DEFAULT_ALLOCATION_INTERVAL_MS;
  if (!(interval > 0) || !Number.isFinite(interval)) {
    throw new DcosError(Code.INVALID_ARGUMENT, `Invalid allocation interval ${interval} ms: it must be a finite number > 0`);
  }
  for (const [role, w] of options.weights ?? []) {
    if (!(w > 0) || !Number.isFinite(w)) throw new DcosError(Code.INVALID_ARGUMENT, `Invalid weight ${w} for role '${role}': weights must be finite and > 0`);
  }
  const actor = system.spawn(new AllocatorActor(options.name ?? "allocator", p, interval, options.weights, { ...DEFAULT_ROUND_SLICING, ...options.roundSlicing }));
  return new AllocatorFacade(actor, p.name);
}
