/**
 * The allocator as the master sees it: a plug-in, chosen by name (`--allocator`), that is
 * told what exists (agents, frameworks, what is used) and answers with offers.
 *
 * Every method is one-way: the master calls it from inside a handler and goes on. An
 * implementation that runs in an actor (allocator-actor.ts) turns each call into a message
 * to itself; decisions come back through the `offer` callback given to `initialize`, which
 * the master wires to a message to itself, so they re-enter the master as messages too.
 *
 * Resources are the protocol's `Resource` messages (src/resources has the arithmetic).
 * Amounts the master hands back through `recoverResources` are exactly what it took out
 * of an offer or a finished task, so the allocator's books always balance.
 */
import type { Resource } from "../../gen/dcos/v1/resources_pb.js";
import type { Attribute } from "../../gen/dcos/v1/common_pb.js";
import type { Resources } from "../../resources/index.js";
import type { RoleQuota } from "./snapshot.js";

export type { RoleQuota } from "./snapshot.js";

/** Resources of one agent offered to one framework, allocated to one of its roles. */
export interface OfferDecision {
  frameworkId: string;
  agentId: string;
  /** Each resource carries allocation_info.role: the role it was allocated to. */
  resources: Resource[];
}

/** Receives the offers of a round (or of one part of it); see Allocator.initialize. */
export type OfferCallback = (decisions: OfferDecision[]) => void | PromiseLike<void>;

export interface AllocatorFramework {
  /** The roles the framework subscribed with (at least one). */
  roles: readonly string[];
  /** Roles for which the framework wants no offers now (SUPPRESS). */
  suppressedRoles?: readonly string[];
  /** A framework that is registered but disconnected (failover) is inactive: no offers. */
  active: boolean;
}

export interface AllocatorAgent {
  hostname: string;
  attributes?: readonly Attribute[];
  /** Everything the agent has, reservations included. */
  total: readonly Resource[];
  /**
   * `total` as the master already parsed it (Resources.of(total)), when it did: the allocator
   * takes it instead of parsing the list again (once per agent, 50,000 times after a failover).
   */
  parsedTotal?: Resources;
  /** False while the agent is unreachable or draining: its resources are not offered. */
  active: boolean;
}

export interface AllocatorOptions {
  /** How often a full allocation round runs, batching the changes in between. Default 1000 ms. */
  allocationIntervalMs?: number;
  /** Role weights (default 1 for every role). */
  weights?: ReadonlyMap<string, number>;
}

export interface AllocatorMetrics {
  /** Milliseconds the last rounds took (the `allocator/allocation_run_ms` figure). */
  allocationRuns: number;
  lastAllocationRunMs: number;
}

export interface Allocator {
  /** The policy's name as given to `--allocator` ("hierarchical-drf", "strict-priority"). */
  readonly policy: string;

  /**
   * Called once before anything else; `offer` receives each round's decisions. If it returns
   * a promise (settled once the master has acted on them), a round made in parts makes its
   * next part only then: offers are not made faster than the master takes them, and what it
   * hears meanwhile (a SUPPRESS, declines) counts for the next part.
   */
  initialize(offer: OfferCallback): void;

  /**
   * A framework subscribed (or the master learned it on failover). `used` is what its
   * tasks already hold, per agent id.
   */
  addFramework(frameworkId: string, framework: AllocatorFramework, used: ReadonlyMap<string, readonly Resource[]>): void;
  updateFramework(frameworkId: string, framework: AllocatorFramework): void;
  activateFramework(frameworkId: string): void;
  deactivateFramework(frameworkId: string): void;
  /** The framework is gone; everything it held is free again. */
  removeFramework(frameworkId: string): void;

  /** `used` is what running tasks hold on the agent, per framework id. */
  addAgent(agentId: string, agent: AllocatorAgent, used: ReadonlyMap<string, readonly Resource[]>): void;
  /** The agent's total changed (a reservation or a volume was made or destroyed). */
  updateAgent(agentId: string, total: readonly Resource[]): void;
  /**
   * An offer operation (RESERVE, UNRESERVE, CREATE, DESTROY) in an accept turned `consumed`,
   * held by the framework on the agent, into `converted` (both with allocation roles): the
   * framework now holds `converted`, and the agent's total changes the same way.
   */
  updateAllocation(frameworkId: string, agentId: string, consumed: readonly Resource[], converted: readonly Resource[]): void;
  activateAgent(agentId: string): void;
  deactivateAgent(agentId: string): void;
  removeAgent(agentId: string): void;

  /**
   * Resources held by a framework on an agent are free again: declined or unused part of an
   * accepted offer, a rescinded offer, or a finished task. With `refuseSeconds` > 0 the
   * allocator does not offer that agent to that framework again for that long (a filter),
   * unless the framework revives.
   */
  recoverResources(frameworkId: string, agentId: string, resources: readonly Resource[], refuseSeconds?: number): void;

  /** SUPPRESS: no offers for these roles (all of the framework's roles when empty). */
  suppressOffers(frameworkId: string, roles?: readonly string[]): void;
  /** REVIVE: clear the framework's filters and un-suppress these roles (all when empty). */
  reviveOffers(frameworkId: string, roles?: readonly string[]): void;

  updateWeights(weights: ReadonlyMap<string, number>): void;

  /**
   * Sets the quota of every role (roles not named have none): guarantees are kept back
   * from other roles until met, limits are never exceeded.
   */
  updateQuota(quotas: ReadonlyMap<string, RoleQuota>): void;

  metrics(): AllocatorMetrics;

  /** Stops the allocation timer. */
  stop(): void;
}
