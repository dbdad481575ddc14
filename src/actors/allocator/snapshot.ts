/**
 * What an allocation round sees: a read-only snapshot of the allocator's books. The round
 * (round.ts) is a pure function of it; the actor applies what the round returns.
 */
import type { Quantities } from "../../resources/quantities.js";
import type { Resources } from "../../resources/resources.js";

/** One role's quota, scalar amounts by resource name. A name absent from limits is unlimited. */
export interface RoleQuota {
  readonly guarantees: ReadonlyMap<string, number>;
  readonly limits: ReadonlyMap<string, number>;
}

export interface SnapshotAgent {
  readonly id: string;
  /** Everything the agent has (shares are fractions of the sum over active agents). */
  readonly total: Resources;
  /** What is neither offered nor used, reservations included. */
  readonly free: Resources;
  readonly active: boolean;
}

export interface SnapshotFramework {
  readonly id: string;
  readonly roles: readonly string[];
  readonly suppressedRoles: ReadonlySet<string>;
  readonly active: boolean;
  /** Scalar quantities the framework holds (offered or used), per role. */
  readonly allocated: ReadonlyMap<string, Quantities>;
  /** Agent id → clock time (ms) before which that agent is not offered to this framework. */
  readonly filters: ReadonlyMap<string, number>;
}

export interface AllocationSnapshot {
  /** Clock time of the round (filters expire against it). */
  readonly now: number;
  /** In the order the round visits them. */
  readonly agents: readonly SnapshotAgent[];
  readonly frameworks: readonly SnapshotFramework[];
  /** Role weights; roles not named weigh 1. */
  readonly weights: ReadonlyMap<string, number>;
  /** Role quotas (guarantees and limits); absent or empty: no role has quota. */
  readonly quotas?: ReadonlyMap<string, RoleQuota>;
  /**
   * Scalar totals of every active agent (what shares are fractions of), kept by the
   * allocator; when absent the round sums `agents`. A round over some agents only (the ones
   * whose resources changed) needs it: shares stay fractions of the whole cluster.
   */
  readonly totals?: Quantities;
  /**
   * What each role holds (offered or used), summed over its frameworks, kept by the
   * allocator; when absent the round sums the frameworks' `allocated`. A round in parts
   * over 50,000 agents is 196 rounds over 256 agents each, and summing 200 frameworks'
   * holdings for every one of them was most of the round's time.
   */
  readonly roleAllocated?: ReadonlyMap<string, Quantities>;
}

/** Resources of one agent offered to one framework; each carries its allocation role. */
export interface RoundOffer {
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
  /** The same resources without allocation roles: what leaves the agent's free pool. */
  readonly taken: Resources;
}
