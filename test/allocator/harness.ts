/**
 * Drives an allocator on a ManualClock and records every offer it makes, so fairness
 * scenarios read as: add agents and frameworks, run a round, look at who got what.
 */
import type { Resource } from "../../src/gen/dcos/v1/resources_pb.js";
import type { Allocator, OfferDecision } from "../../src/actors/allocator/allocator.js";
import { createAllocator, type CreateAllocatorOptions } from "../../src/actors/allocator/allocator-facade.js";
import { Metrics } from "../../src/metrics/metrics.js";
import { parseResources } from "../../src/resources/parse.js";
import { Resources } from "../../src/resources/resources.js";
import { ManualClock } from "../../src/runtime/clock.js";
import { testLogger } from "../../src/runtime/log.js";
import { ActorSystem } from "../../src/runtime/system.js";

export const INTERVAL_MS = 1000;

export class AllocatorHarness {
  readonly clock = new ManualClock();
  readonly metrics = new Metrics();
  readonly system = new ActorSystem({ clock: this.clock, address: "master", metrics: this.metrics, logger: testLogger() });
  readonly allocator: Allocator;
  /** Every decision, in the order the allocator made them. */
  readonly offers: OfferDecision[] = [];
  /** Decisions of each callback (one per round that offered anything). */
  readonly rounds: OfferDecision[][] = [];

  constructor(policy = "hierarchical-drf", options: CreateAllocatorOptions = {}) {
    this.allocator = createAllocator(policy, this.system, { allocationIntervalMs: INTERVAL_MS, ...options });
    this.allocator.initialize((decisions) => {
      this.rounds.push(decisions);
      this.offers.push(...decisions);
    });
  }

  addAgent(id: string, resources = "cpus:4;mem:4096", used: ReadonlyMap<string, readonly Resource[]> = new Map()): void {
    this.allocator.addAgent(id, { hostname: `${id}.example`, total: parseResources(resources).toProto(), active: true }, used);
  }

  addFramework(id: string, roles: string[] = ["*"], suppressedRoles: string[] = []): void {
    this.allocator.addFramework(id, { roles, suppressedRoles, active: true }, new Map());
  }

  /** Lets queued calls and the "soon" round run, without moving time. */
  async settle(): Promise<void> {
    await this.clock.settle();
  }

  /** Moves time by ms (default one allocation interval), running the rounds that fall due. */
  async advance(ms = INTERVAL_MS): Promise<void> {
    await this.clock.advance(ms);
  }

  /** Decisions made from now until fn's returned promise resolves. */
  async during(fn: () => Promise<void>): Promise<OfferDecision[]> {
    const before = this.offers.length;
    await fn();
    return this.offers.slice(before);
  }

  /** The framework gives back everything it was offered in these decisions (a decline). */
  decline(decisions: readonly OfferDecision[], frameworkId: string, refuseSeconds?: number): void {
    for (const d of decisions) {
      if (d.frameworkId === frameworkId) this.allocator.recoverResources(frameworkId, d.agentId, d.resources, refuseSeconds);
    }
  }

  async stop(): Promise<void> {
    this.allocator.stop();
    await this.system.stop();
  }
}

/** Number of offers per framework id. */
export function offersPerFramework(decisions: readonly OfferDecision[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const d of decisions) out.set(d.frameworkId, (out.get(d.frameworkId) ?? 0) + 1);
  return out;
}

/** Sum of one scalar over the decisions of a framework. */
export function scalarOffered(decisions: readonly OfferDecision[], frameworkId: string, name: string): number {
  return decisions
    .filter((d) => d.frameworkId === frameworkId)
    .reduce((sum, d) => Resources.of(d.resources).add(sum), Resources.empty())
    .scalar(name);
}

export function agentsOffered(decisions: readonly OfferDecision[], frameworkId: string): string[] {
  return decisions
    .filter((d) => d.frameworkId === frameworkId)
    .map((d) => d.agentId)
    .sort();
}
